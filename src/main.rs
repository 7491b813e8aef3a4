use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    confluence_hub::cli::run(confluence_hub::cli::Cli::parse())
}
