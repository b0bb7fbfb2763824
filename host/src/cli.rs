//! The command line: `serve` runs the router, `check` validates a config
//! and its plugins without serving.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod deliveries;
mod inspect;
mod ops;
mod plugin_new;
mod plugin_test;
pub use plugin_test::request as fixture_request;
mod webhooks;

use crate::admin::JobFilter;
use crate::config::{Config, Overrides};
use crate::server::{self, StartError};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "Webhook router for SMS and messaging providers' callbacks"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the router.
    Serve {
        #[command(flatten)]
        target: Target,
    },
    /// Validate the config and load its plugins, then exit (0 = fine, 2 = bad config).
    Check {
        /// Print every default of the config file as a commented TOML
        /// document and exit, without reading a config.
        #[arg(long)]
        print_defaults: bool,
        /// Also fail (exit 1) when a mount accepts callbacks from anyone (its
        /// provider does not sign and no protection is configured) or when a
        /// plugin file is refused at load.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Destinations: circuit breaker, disabled state, backlog.
    Destinations {
        /// `enable NAME`: re-enable a destination disabled by `410 Gone`.
        #[arg(value_parser = ["enable"])]
        action: Option<String>,
        name: Option<String>,
        #[command(flatten)]
        target: ops::OpsTarget,
    },
    /// Delivery jobs: dead letters (default), pending or delivered ones, with every attempt.
    Deliveries {
        /// Pending jobs instead of dead letters.
        #[arg(long)]
        pending: bool,
        /// Delivered jobs (most recent first) instead of dead letters.
        #[arg(long, conflicts_with = "pending")]
        delivered: bool,
        #[arg(long)]
        destination: Option<String>,
        /// Only the jobs of this event (its id, as in `webhook-id`).
        #[arg(long)]
        event: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        target: ops::OpsTarget,
    },
    /// Loaded plugins: version, digest, routes, request counts.
    Plugins {
        #[command(flatten)]
        target: ops::OpsTarget,
    },
    /// Callbacks as received (newest first), with what became of them.
    Captures {
        #[arg(long)]
        plugin: Option<String>,
        /// accepted, rejected or quarantined.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        target: ops::OpsTarget,
    },
    /// Recent normalized events (newest first).
    Events {
        #[arg(long)]
        provider: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        target: ops::OpsTarget,
    },
    /// Run stored captures again through the current plugins (dedup applies).
    Replay {
        #[command(flatten)]
        args: inspect::ReplayArgs,
        #[command(flatten)]
        target: ops::OpsTarget,
    },
    /// Webhooks made at runtime (seed 001): create, list, show, update, delete, rotate-secret, test.
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
    },
    /// Plugin kit: scaffold a plugin, or run fixtures through one.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Send dead deliveries again: one job, or every dead job of a destination.
    Redrive {
        #[arg(long, conflicts_with = "destination")]
        job: Option<u64>,
        #[arg(long)]
        destination: Option<String>,
        #[command(flatten)]
        target: ops::OpsTarget,
    },
}

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Scaffold a provider plugin crate that builds and passes its tests.
    New(plugin_new::NewArgs),
    /// Run raw HTTP request files through a plugin; print reply and events as JSON.
    Test(plugin_test::TestArgs),
}

#[derive(clap::Args)]
pub struct Target {
    /// The config file.
    #[arg(long, short, default_value = "config.toml", env = "SWITCHBOARD_CONFIG")]
    pub config: PathBuf,
    /// Listen address, overriding `server.listen` (port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory, overriding `store.data_dir`.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Admin API address, overriding `admin.listen` (port 0 picks a free one).
    #[arg(long)]
    pub admin_listen: Option<SocketAddr>,
}

impl Target {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            admin_listen: self.admin_listen,
            data_dir: self.data_dir.clone(),
        }
    }

    fn load(&self) -> Result<Config, StartError> {
        Ok(Config::load(&self.config, &self.overrides())?)
    }
}

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Serve { target } => target.load().and_then(|config| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(|e| StartError::Other(e.into()))?;
            rt.block_on(server::serve(config, target.overrides()))
        }),
        Command::Destinations {
            action,
            name,
            target,
        } => ops_runtime().and_then(|rt| {
            rt.block_on(async {
                match (action.as_deref(), name.as_deref()) {
                    (Some(_), None) => Err(StartError::Other(anyhow::anyhow!(
                        "`destinations enable` needs a destination name"
                    ))),
                    (_, name) => ops::destinations(&target, name).await,
                }
            })
        }),
        Command::Deliveries {
            pending,
            delivered,
            destination,
            event,
            limit,
            target,
        } => ops_runtime().and_then(|rt| {
            let state = match (pending, delivered) {
                (true, _) => "pending",
                (_, true) => "delivered",
                _ => "dead",
            };
            let filter = JobFilter {
                destination: destination.as_deref(),
                event: event.as_deref(),
            };
            rt.block_on(deliveries::deliveries(&target, state, &filter, limit))
        }),
        Command::Redrive {
            job,
            destination,
            target,
        } => ops_runtime()
            .and_then(|rt| rt.block_on(deliveries::redrive(&target, job, destination.as_deref()))),
        Command::Plugins { target } => {
            ops_runtime().and_then(|rt| rt.block_on(inspect::plugins(&target)))
        }
        Command::Captures {
            plugin,
            status,
            limit,
            target,
        } => ops_runtime().and_then(|rt| {
            rt.block_on(inspect::captures(
                &target,
                plugin.as_deref(),
                status.as_deref(),
                limit,
            ))
        }),
        Command::Events {
            provider,
            limit,
            target,
        } => ops_runtime()
            .and_then(|rt| rt.block_on(inspect::events(&target, provider.as_deref(), limit))),
        Command::Replay { args, target } => {
            ops_runtime().and_then(|rt| rt.block_on(inspect::replay(&target, &args)))
        }
        Command::Webhooks { command } => {
            ops_runtime().and_then(|rt| rt.block_on(webhooks::run(command)))
        }
        Command::Plugin { command } => match command {
            PluginCommand::New(args) => plugin_new::run(&args),
            PluginCommand::Test(args) => plugin_test::run(&args),
        },
        Command::Check {
            print_defaults: true,
            ..
        } => {
            print!("{}", crate::config::defaults::print());
            Ok(())
        }
        Command::Check { strict, target, .. } => target.load().and_then(|config| {
            let (_, router, refused) = server::prepare(&config)?;
            for m in router.plugins() {
                let routes: Vec<_> = m.plugin.endpoints.iter().map(|r| r.as_str()).collect();
                println!(
                    "plugin {} {} ({}): {}{}",
                    m.name(),
                    m.plugin.info.version,
                    m.plugin.path.display(),
                    routes.join(" "),
                    if m.unprotected() {
                        " [unprotected]"
                    } else {
                        ""
                    }
                );
            }
            let open = crate::mount::warn_unprotected(&router);
            println!(
                "{}: ok ({} plugins, {} destinations, {} routes, {} unprotected mounts)",
                config.file.display(),
                router.plugins().len(),
                config.destinations.len(),
                config.routes.len(),
                open.len()
            );
            for why in &refused {
                println!("plugin refused (left out): {why}");
            }
            if strict && !open.is_empty() {
                return Err(StartError::Other(anyhow::anyhow!(
                    "--strict: unprotected mounts: {} (set [plugins.<name>.protect])",
                    open.join(", ")
                )));
            }
            if strict && !refused.is_empty() {
                return Err(StartError::Other(anyhow::anyhow!(
                    "--strict: {} plugin file(s) refused: {}",
                    refused.len(),
                    refused.join("; ")
                )));
            }
            Ok(())
        }),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            let code = e.exit_code();
            match e {
                // Every config problem on its own line, each one greppable
                // as `error: {file}: {key}: ...`.
                StartError::Config(problems) => {
                    for p in &problems {
                        eprintln!("error: {p}");
                    }
                }
                other => eprintln!("error: {other}"),
            }
            code
        }
    }
}

fn ops_runtime() -> Result<tokio::runtime::Runtime, StartError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Other(e.into()))
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    use std::io::IsTerminal;
    // Colours only for a person at a terminal, never in files or pipes.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
