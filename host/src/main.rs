use clap::Parser;

// Many small allocations per request across several threads: mimalloc cut
// the router's allocator time (10 % of its CPU with glibc malloc here).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(switchboard::cli::run(switchboard::cli::Cli::parse()));
}
