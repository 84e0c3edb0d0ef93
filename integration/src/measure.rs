//! What the benches read of a running process, from /proc: memory and CPU.

/// A `/proc/PID/status` field in KiB (`VmRSS:`, `VmHWM:`), 0 when unreadable.
pub fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A `/proc/PID/smaps_rollup` field in KiB (`Anonymous:`, `Rss:`), 0 when unreadable.
pub fn smaps_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

/// Fields of `/proc/PID/stat` from the state on (after the command name,
/// which is in parentheses and may hold spaces): field N of stat is N - 3 here.
fn stat_ticks(pid: u32, fields: [usize; 2]) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let values: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields
        .iter()
        .filter_map(|f| values.get(f - 3)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// utime + stime of a process (stat fields 14 and 15), in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    stat_ticks(pid, [14, 15])
}

/// CPU of a process's children it has waited for (cutime + cstime, stat
/// fields 16 and 17), in seconds: for Lostrómos, its helm processes.
pub fn children_cpu_secs(pid: u32) -> f64 {
    stat_ticks(pid, [16, 17])
}

/// The machine's 1-minute load average, from /proc/loadavg (0 when unreadable):
/// printed beside timings so a loaded run is known as one.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Peak resident memory of a process so far (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:")
}

/// The whole machine's CPU time so far, from the first line of /proc/stat:
/// (busy, idle) in seconds summed over all cores, idle counting iowait.
pub fn machine_cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is counted in user)
    let idle: f64 = ticks.iter().skip(3).take(2).sum();
    let busy: f64 = ticks.iter().take(8).sum::<f64>() - idle;
    (busy / 100.0, idle / 100.0)
}
