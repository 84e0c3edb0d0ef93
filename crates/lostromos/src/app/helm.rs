//! Setting up helm for this process: a private working folder, helm's
//! environment, the runner, the detected major, and the chart.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::libc;

use lostromos::config::settings::{Settings, HELM_GRACE};
use lostromos::helm::chart::{self, Chart, ChartSource};
use lostromos::helm::{argv, version as helm_version, HelmArgs, HelmRunner, Major};

/// Work folders are `lostromos-*` in the temp folder.
const PREFIX: &str = "lostromos-";
/// Written into a work folder once it is locked: a folder without it is being
/// set up right now, or is not one of these.
const OWNER: &str = "owner";

/// This process's private working folder (0700): pulled charts and helm's
/// homes. No values: helm reads those on its standard input.
///
/// Locked (`flock`) for the process's life, which the kernel ends with the
/// process however it dies: a later Lostrómos sharing the temp folder (a
/// restarted container with an emptyDir /tmp, where every process is pid 1)
/// tells a dead process's folder from a live one's without trusting pids.
pub struct WorkDir {
    /// Dropped first: the folder goes while it is still locked.
    dir: tempfile::TempDir,
    _lock: File,
}

impl WorkDir {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Creates this process's work folder, then removes those that Lostrómos
/// processes which are gone left in the same temp folder (killed before they
/// could clean up).
pub fn work_dir() -> anyhow::Result<WorkDir> {
    let parent = std::env::temp_dir();
    let work = create_locked(&parent)?;
    for (folder, removed) in remove_stale(&parent, work.path()) {
        match removed {
            Ok(()) => {
                tracing::info!(folder = %folder.display(), "removed the work folder of a Lostrómos that is gone")
            }
            Err(e) => {
                tracing::warn!(folder = %folder.display(), error = %e, "could not remove the work folder of a Lostrómos that is gone")
            }
        }
    }
    Ok(work)
}

fn create_locked(parent: &Path) -> anyhow::Result<WorkDir> {
    let dir = tempfile::Builder::new()
        .prefix(PREFIX)
        .tempdir_in(parent)
        .context("creating a private temp folder")?;
    // nobody else may list or read what helm keeps here
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700))
        .context("making the temp folder private")?;
    let lock = open_folder(dir.path()).context("opening the temp folder")?;
    lock.try_lock()
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("locking the temp folder")?;
    // only now: a folder with an owner file is locked while its owner lives
    fs::write(dir.path().join(OWNER), format!("{}\n", std::process::id()))
        .context("marking the temp folder")?;
    Ok(WorkDir { dir, _lock: lock })
}

/// A folder, opened for `flock`, not through a symlink.
fn open_folder(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
}

/// Removes the work folders in `parent` whose process is gone: named like
/// ours, owned by our user, marked, and not locked. Each is removed while this
/// process holds its lock, so two starting at once do not trip over it.
fn remove_stale(parent: &Path, own: &Path) -> Vec<(PathBuf, std::io::Result<()>)> {
    let Ok(uid) = fs::metadata(own).map(|m| m.uid()) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let named = entry.file_name().to_string_lossy().starts_with(PREFIX);
        if !named || path == own {
            continue;
        }
        // not a symlink, ours, and marked
        let ours = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir() && m.uid() == uid);
        let marked = fs::symlink_metadata(path.join(OWNER)).is_ok_and(|m| m.is_file());
        if !ours || !marked {
            continue;
        }
        let Ok(lock) = open_folder(&path) else {
            continue;
        };
        // held: its process lives
        if lock.try_lock().is_err() {
            continue;
        }
        removed.push((path.clone(), fs::remove_dir_all(&path)));
    }
    removed
}

/// The environment every helm process gets.
fn env(s: &Settings, work: &Path) -> Vec<(OsString, OsString)> {
    let mut env = base_env(work);
    if let Some(k) = &s.kubeconfig {
        env.push(("KUBECONFIG".into(), k.clone().into()));
    }
    env
}

/// helm's environment without a cluster: no colour, homes in `work`.
fn base_env(work: &Path) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vec![
        ("NO_COLOR".into(), "1".into()),
        ("HELM_COLOR".into(), "never".into()),
    ];
    // helm writes caches under the working folder when it has no home
    for (var, sub) in [
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ] {
        if std::env::var_os(var).is_none() {
            env.push((var.into(), work.join("helm").join(sub).into()));
        }
    }
    env
}

/// A runner for helm commands that need no cluster (`helm pull`).
pub fn offline_runner(binary: &Path, work: &Path) -> HelmRunner {
    HelmRunner::new(binary.to_path_buf(), base_env(work), 1, HELM_GRACE)
}

/// The runner for every helm process of this Lostrómos.
pub fn runner(s: &Settings, work: &Path, concurrency: usize) -> HelmRunner {
    HelmRunner::new(s.helm_binary.clone(), env(s, work), concurrency, HELM_GRACE)
}

/// `helm version` of `runner`'s binary.
pub async fn version_text(runner: &HelmRunner, binary: &Path) -> anyhow::Result<String> {
    let out = runner
        .run(&argv::version(), std::time::Duration::from_secs(30))
        .await
        .with_context(|| {
            format!(
                "running {} version; fix: install helm 3.13+ or 4, or set --helm-binary",
                binary.display()
            )
        })?;
    Ok(out.stdout.trim().to_owned())
}

/// Which helm we drive.
pub async fn detect(
    runner: &HelmRunner,
    binary: &Path,
) -> anyhow::Result<helm_version::HelmVersion> {
    Ok(helm_version::parse(&version_text(runner, binary).await?)?)
}

/// The configured chart, checked and digested (pulled first when remote).
pub async fn resolve_chart(
    runner: &HelmRunner,
    s: &Settings,
    work: &Path,
) -> Result<Chart, chart::ChartError> {
    match &s.chart {
        ChartSource::Chart(reference) => {
            chart::resolve(
                runner,
                reference,
                s.chart_version.as_deref(),
                work,
                s.timeout,
            )
            .await
        }
        ChartSource::Templates(dir) => chart::from_templates(runner, dir, work, s.timeout).await,
    }
}

/// The options every helm call of this process shares.
pub fn args(s: &Settings, major: Major, chart: &Chart) -> HelmArgs {
    // a pulled chart is already the requested version; a generated one has none
    let local = matches!(&s.chart, ChartSource::Chart(c) if *c == chart.path);
    HelmArgs {
        major,
        chart: chart.path.clone(),
        chart_version: if local { s.chart_version.clone() } else { None },
        timeout: s.timeout,
        wait: s.wait,
        history_max: s.history_max,
        sources: chart.sources.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder as a Lostrómos that was killed leaves it: marked, unlocked.
    fn dead_folder(parent: &Path, name: &str) -> PathBuf {
        let path = parent.join(name);
        fs::create_dir(&path).unwrap();
        fs::write(path.join(OWNER), "1\n").unwrap();
        fs::write(path.join("left-behind"), "x").unwrap();
        path
    }

    #[test]
    fn work_folder_is_private_locked_and_removed_on_drop() {
        let parent = tempfile::tempdir().unwrap();
        let work = create_locked(parent.path()).unwrap();
        let mode = fs::metadata(work.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(work.path().join(OWNER).is_file());
        // another open file description cannot take the lock while it lives
        let other = open_folder(work.path()).unwrap();
        assert!(other.try_lock().is_err(), "the work folder is not locked");
        let path = work.path().to_path_buf();
        drop(work);
        assert!(!path.exists());
    }

    #[test]
    fn only_folders_of_gone_processes_are_removed() {
        let parent = tempfile::tempdir().unwrap();
        let p = parent.path();
        let own = create_locked(p).unwrap();
        let live = create_locked(p).unwrap();
        let dead = dead_folder(p, "lostromos-dead");
        // unmarked: being set up right now, or a folder of something else
        let unmarked = p.join("lostromos-unmarked");
        fs::create_dir(&unmarked).unwrap();
        let other = dead_folder(p, "other-dead");
        // a symlink named like ours is not followed
        let target = dead_folder(p, "target");
        let link = p.join("lostromos-link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let file = p.join("lostromos-file");
        fs::write(&file, "x").unwrap();

        let removed = remove_stale(p, own.path());
        let paths: Vec<&PathBuf> = removed.iter().map(|(path, _)| path).collect();
        assert_eq!(paths, [&dead]);
        assert!(removed[0].1.is_ok());
        assert!(!dead.exists());
        for kept in [
            own.path(),
            live.path(),
            &unmarked,
            &other,
            &target,
            &link,
            &file,
        ] {
            assert!(
                fs::symlink_metadata(kept).is_ok(),
                "{} removed",
                kept.display()
            );
        }
        assert!(target.join("left-behind").exists());
    }

    #[test]
    fn a_killed_process_folder_is_removed_by_the_next() {
        // the lock goes with the file description, as at a process's death
        let parent = tempfile::tempdir().unwrap();
        let first = create_locked(parent.path()).unwrap();
        let first_path = first.path().to_path_buf();
        let WorkDir { dir, _lock } = first;
        let _kept = dir.keep();
        drop(_lock);
        let next = create_locked(parent.path()).unwrap();
        let removed = remove_stale(parent.path(), next.path());
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].0, first_path);
        assert!(!first_path.exists());
    }
}
