//! A heap profile of the running controller (dhat), in the benches' build with
//! feature `dhat-heap` only. SIGUSR2 writes the profile to
//! `$LOSTROMOS_DHAT_FILE` (default `dhat-heap.json`): the bytes live at that
//! moment (dhat's "t-end") and at the peak so far ("t-gmax"), each by the
//! call stack that allocated them. Summarised by `scripts/dhat-top.py`.

use std::sync::Mutex;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

static PROFILER: Mutex<Option<dhat::Profiler>> = Mutex::new(None);

/// Starts profiling, and writes the profile on the first SIGUSR2 (a process
/// has one profile: dhat cannot start a second one).
pub fn start() {
    let file = std::env::var("LOSTROMOS_DHAT_FILE").unwrap_or_else(|_| "dhat-heap.json".into());
    let profiler = dhat::Profiler::builder().file_name(&file).build();
    *PROFILER.lock().unwrap_or_else(|e| e.into_inner()) = Some(profiler);
    tokio::spawn(async move {
        let kind = tokio::signal::unix::SignalKind::user_defined2();
        let Ok(mut signal) = tokio::signal::unix::signal(kind) else {
            return;
        };
        signal.recv().await;
        // dropping the profiler writes the file
        let profiler = PROFILER.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(profiler);
        tracing::info!(file, "heap profile written");
    });
}
