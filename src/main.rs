//! The `oldrooms` binary: parse the command line, set up logging, run.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use oldrooms::cli::{Cli, Command, LogFormat, run};
use tracing_subscriber::EnvFilter;

/// jemalloc hands a finished scan's memory back to the system: at a million
/// rooms the bot is back to 60 MB after the offer, where the C library's
/// allocator kept 180 MB (BENCHMARKS.md). Its background thread does it a
/// second after the memory is freed (`.cargo/config.toml`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Progress lines (where stderr is not a terminal) show by default.
    let default = match cli.verbose {
        0 => "warn,oldrooms::progress=info",
        1 => "warn,oldrooms=info",
        _ => "warn,oldrooms=debug",
    };
    // The SDK logs every failed request at ERROR, the 404s it expects
    // (absent account data) among them; its errors that matter reach our
    // own code, which logs them. Named in RUST_LOG, it is shown as asked.
    let quiet = |directives: &str| {
        if directives.contains("matrix_sdk::http_client") {
            directives.to_owned()
        } else {
            format!("{directives},matrix_sdk::http_client=off")
        }
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|wanted| EnvFilter::try_new(quiet(&wanted)).ok())
        .unwrap_or_else(|| EnvFilter::new(quiet(default)));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        // One object per line, the event's fields flattened beside the
        // message, as log shippers expect.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    // The bot syncs beside its jobs: a thread per core. A command is one
    // stream of requests: on one thread it spares the wake-ups between
    // threads, which perf showed to be most of a scan's CPU.
    let mut runtime = match cli.command {
        Command::Run { .. } => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    match runtime.enable_all().build() {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("oldrooms: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}
