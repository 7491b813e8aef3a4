use std::process::ExitCode;

fn main() -> ExitCode {
    confluence_hub::cli::run(confluence_hub::cli::Cli::parse_args())
}
