use clap::Parser;

fn main() {
    std::process::exit(switchboard::cli::run(switchboard::cli::Cli::parse()));
}
