//! The `hookline` command: parses the command line and calls the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "hookline",
    version,
    about = "Event webhooks with Liquid templates and durable delivery"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the webhook service: HTTP API, durable queue, delivery workers.
    Serve {
        /// Config file (TOML); every key is optional (`--print-config` shows them all).
        #[arg(long, env = "HOOKLINE_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address [env: HOOKLINE_LISTEN; default 127.0.0.1:8080].
        #[arg(long)]
        listen: Option<String>,
        /// Database URL [env: HOOKLINE_DATABASE; default sqlite://hookline.db].
        #[arg(long)]
        database: Option<String>,
        /// A directory of static files to serve at `/` [env: HOOKLINE_SITE].
        #[arg(long)]
        site: Option<PathBuf>,
        /// Prints the default configuration, every key commented, and exits.
        #[arg(long)]
        print_config: bool,
    },
    /// Prints the exact request a webhook sends for an event (for debugging templates).
    Render {
        /// The webhook's JSON form: {"name", "events", "method", "url", "headers", "body", "enabled"}.
        webhook: PathBuf,
        /// The event's JSON form: its fields at the top level, `message` nested.
        event: PathBuf,
        /// `curl` (a copy-pasteable command) or `json` ({"method", "url", "headers", "body"}).
        #[arg(long, default_value = "curl")]
        format: hookline::render_cmd::Format,
    },
    /// Prints the API's OpenAPI document (what `hookline serve` serves at `/openapi.json`).
    Openapi,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            println!("{}", hookline::api::openapi_json());
            Ok(())
        }
        Command::Render {
            webhook,
            event,
            format,
        } => {
            match hookline::render_cmd::run(&webhook, &event, format) {
                Ok(text) => print!("{text}"),
                Err(e) => {
                    eprintln!("hookline render: {e}");
                    std::process::exit(2);
                }
            }
            Ok(())
        }
        Command::Serve {
            config,
            listen,
            database,
            site,
            print_config,
        } => {
            if print_config {
                print!("{}", hookline::config::DEFAULT_TOML);
                return Ok(());
            }
            // Flags win over the environment, which wins over the file.
            let flags = [
                ("HOOKLINE_LISTEN", listen),
                ("HOOKLINE_DATABASE", database),
                ("HOOKLINE_SITE", site.map(|s| s.display().to_string())),
            ];
            let env = |name: &str| match flags.iter().find(|(n, _)| *n == name) {
                Some((_, Some(value))) => Some(value.clone()),
                _ => std::env::var(name).ok(),
            };
            let names: Vec<String> = std::env::vars_os()
                .filter_map(|(name, _)| name.into_string().ok())
                .collect();
            hookline::config::check_env_names(names.iter().map(String::as_str))?;
            let config = hookline::config::Config::load(config.as_deref(), &env)?;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("HOOKLINE_LOG")
                        .unwrap_or_else(|_| "info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(config.listen).await?;
                // On stderr like the admin key: the address a person starting the server opens.
                eprintln!(
                    "hookline: dashboard at http://{}/dashboard/",
                    listener.local_addr()?
                );
                hookline::server::run(listener, config, hookline::server::shutdown_signal())
                    .await?;
                anyhow::Ok(())
            })
        }
    }
}
