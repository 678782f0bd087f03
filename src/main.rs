use clap::Parser;
use leadgraph::cli::Cli;
use std::process::ExitCode;

// glibc malloc took a third of the server's CPU under load (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    leadgraph::telemetry::init(&cli.config);
    let result = leadgraph::cli::run(cli).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("leadgraph: {err}");
            ExitCode::FAILURE
        }
    }
}
