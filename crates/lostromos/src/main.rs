//! The `lostromos` binary: parse, set up logging, hand over to `app`.

mod app;

use clap::Parser;
use lostromos::config::cli::{Cli, Command, Options, RenderArgs};
use lostromos::config::settings::{self, Purpose};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(options) => match settings::load_run(*options) {
            Ok(kinds) => {
                if let Some(s) = kinds.first() {
                    app::logging::init(s);
                }
                app::run(kinds).await
            }
            Err(e) => Err(e.into()),
        },
        Command::Render(args) => {
            let RenderArgs { cr, shared } = *args;
            match settings::load(Options::shared_only(shared), Purpose::Render) {
                Ok(s) => {
                    app::logging::init(&s);
                    app::render(s, &cr).await
                }
                Err(e) => Err(e.into()),
            }
        }
        Command::Crd(args) => app::crd(*args).await,
        Command::Version { helm_binary } => app::version(helm_binary).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lostromos: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
