//! Stopping: signals, the one future every controller stops on, and draining
//! running helm processes within the grace period.

use std::future::Future;
use std::time::Duration;

use futures::FutureExt;
use nix::sys::signal::Signal;
use tokio::sync::watch;

use lostromos::helm::HelmRunner;

/// Set once SIGTERM or SIGINT arrives.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// Starts listening for SIGTERM and SIGINT.
    pub fn on_signals() -> Stop {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            signalled().await;
            tracing::info!("shutdown requested");
            let _ = tx.send(true);
        });
        Stop(rx)
    }

    /// Resolves once a stop was requested.
    pub fn requested(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.0.clone()
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn signalled() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

/// A future every controller can hold: resolves once when it fires.
pub type Halt = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

pub fn halt_on(trigger: impl Future<Output = ()> + Send + 'static) -> Halt {
    trigger.boxed().shared()
}

/// Runs the controllers until they end or `halt` fires. Then no new work
/// starts; running helm processes get `grace`, then SIGTERM (helm marks the
/// release failed, not pending), then SIGKILL after `helm_grace`.
pub async fn run_until_halted(
    controllers: impl Future<Output = ()>,
    halt: Halt,
    runner: &HelmRunner,
    grace: Duration,
    helm_grace: Duration,
) {
    tokio::pin!(controllers);
    tokio::select! {
        () = &mut controllers => {}
        () = halt => {
            if tokio::time::timeout(grace, &mut controllers).await.is_err() {
                tracing::warn!(running = runner.running(), "shutdown grace over; stopping helm");
                runner.close();
                runner.signal_all(Signal::SIGTERM);
                if tokio::time::timeout(helm_grace, &mut controllers).await.is_err() {
                    runner.signal_all(Signal::SIGKILL);
                }
            }
        }
    }
}
