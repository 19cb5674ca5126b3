//! The `oldrooms` binary: parse the command line, set up logging, run.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use oldrooms::cli::{Cli, LogFormat, run};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Progress lines (where stderr is not a terminal) show by default.
    let default = match cli.verbose {
        0 => "warn,oldrooms::progress=info",
        1 => "warn,oldrooms=info",
        _ => "warn,oldrooms=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object per line, the event's fields flattened beside the
        // message, as log shippers expect.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    run(cli).await
}
