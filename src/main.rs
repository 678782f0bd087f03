use clap::Parser;
use leadgraph::cli::{Cli, Command};
use std::process::ExitCode;

// glibc malloc took a third of the server's CPU under load (bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    leadgraph::telemetry::init(&cli.config);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => leadgraph::app::serve(cli.config)
            .await
            .map_err(|e| e.to_string()),
        Command::Migrate => leadgraph::app::migrate(&cli.config)
            .await
            .map_err(|e| e.to_string()),
        Command::Token(args) => leadgraph::auth::mint_token_command(&cli.config, &args),
        Command::Seed(args) => leadgraph::seed::run(&cli.config, &args).await,
        Command::Schema => {
            print!("{}", leadgraph::graphql::sdl());
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("leadgraph: {err}");
            ExitCode::FAILURE
        }
    }
}
