//! A start's first pass: every CR of the first lists decided once. Reading
//! every release's record for its inventory waits for it (or for
//! [`START_PASS_CAP`]): run beside the re-check, those reads took a quarter
//! of the CPU the re-check had and kept the API server busy (measured at
//! 10,000 CRs: re-check 2.45 s with them, 2.27 s after them).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

/// The longest background work waits for the first pass: a start that
/// installs many releases decides slowly, and the inventories of the
/// releases already there should not wait for all of it.
pub const START_PASS_CAP: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Pass {
    /// CR watches whose first list has not ended.
    listing: usize,
    /// CRs listed first and not decided yet (by uid).
    undecided: HashSet<String>,
}

pub struct StartPass {
    pass: Mutex<Pass>,
    over: watch::Sender<bool>,
}

impl Default for StartPass {
    fn default() -> Self {
        Self {
            pass: Mutex::default(),
            over: watch::channel(false).0,
        }
    }
}

impl StartPass {
    fn change(&self, f: impl FnOnce(&mut Pass)) {
        if *self.over.borrow() {
            return;
        }
        let mut pass = self.pass.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut pass);
        if pass.listing == 0 && pass.undecided.is_empty() {
            // nothing more to track: free the set's memory
            *pass = Pass::default();
            self.over.send_replace(true);
        }
    }

    /// A CR watch starts; its first list is part of the pass.
    pub fn watch_begun(&self) {
        self.change(|p| p.listing += 1);
    }

    /// CR `uid` came in a watch's first list.
    pub fn listed(&self, uid: &str) {
        if *self.over.borrow() {
            return;
        }
        let mut pass = self.pass.lock().unwrap_or_else(|e| e.into_inner());
        pass.undecided.insert(uid.to_owned());
    }

    /// A watch's first list ended.
    pub fn list_done(&self) {
        self.change(|p| p.listing = p.listing.saturating_sub(1));
    }

    /// CR `uid` was decided on (or is gone).
    pub fn decided(&self, uid: &str) {
        self.change(|p| {
            p.undecided.remove(uid);
        });
    }

    pub fn is_over(&self) -> bool {
        *self.over.borrow()
    }

    /// Waits for the pass to end, at most `cap`.
    pub async fn wait(&self, cap: Duration) {
        let mut rx = self.over.subscribe();
        let _ = tokio::time::timeout(cap, rx.wait_for(|over| *over)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pass_ends_when_every_list_ended_and_each_cr_listed_was_decided() {
        let p = StartPass::default();
        p.watch_begun();
        p.watch_begun();
        p.listed("a");
        p.decided("a");
        p.listed("b");
        p.list_done();
        assert!(!p.is_over(), "one watch is still listing");
        p.list_done();
        assert!(!p.is_over(), "b is not decided");
        p.decided("unknown");
        assert!(!p.is_over());
        p.decided("b");
        assert!(p.is_over());
        // later CRs do not start it again
        p.listed("c");
        assert!(p.is_over());
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_with_the_pass_or_at_the_cap() {
        let p = std::sync::Arc::new(StartPass::default());
        p.watch_begun();
        let began = tokio::time::Instant::now();
        p.wait(Duration::from_secs(30)).await;
        assert_eq!(began.elapsed(), Duration::from_secs(30), "capped");
        let waiting = tokio::spawn({
            let p = p.clone();
            async move { p.wait(Duration::from_secs(3600)).await }
        });
        p.list_done();
        waiting.await.expect("ended with the pass");
        assert!(began.elapsed() < Duration::from_secs(3600));
    }
}
