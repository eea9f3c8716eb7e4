//! The `netanalysis` command.

fn main() -> std::process::ExitCode {
    netanalysis_cli::main()
}
