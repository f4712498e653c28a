//! The `tradebot` binary: parses arguments, loads configuration, starts
//! logging and hands over to the library. Exit codes: 0 clean stop, 1 the
//! daemon failed while running, 2 it never started (configuration,
//! arguments, a secret, a replay file), 130 forced by a second signal.

use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing::error;

use tradebot::cli::{
    Cli, Command, ConfigCommand, DbCommand, HealthcheckArgs, KillSwitchCommand, RunArgs,
    SecretsCommand, SecretsInitArgs, TradesArgs,
};
use tradebot::commands::{
    database, healthcheck, kill_switch, print_line, secrets_check, secrets_init,
};
use tradebot::config::{self, Config, ConfigSources};
use tradebot::daemon::{self, RunOptions};
use tradebot::secrets::SecretName;
use tradebot::secrets::SecretsManager;
use tradebot::telemetry;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sources = match ConfigSources::from_process(cli.config_dir.clone()) {
        Ok(sources) => sources,
        Err(err) => return fatal_before_logging("Configuration invalid; not starting", &err),
    };
    let config = match config::load(&sources) {
        Ok(config) => config,
        Err(err) => return fatal_before_logging("Configuration invalid; not starting", &err),
    };
    match cli.command {
        Some(Command::Config(ConfigCommand::Check)) => config_check(&config),
        Some(Command::Secrets(SecretsCommand::Init(args))) => init_secrets(args),
        Some(Command::Secrets(SecretsCommand::Check)) => check_secrets(&config),
        Some(Command::Healthcheck(args)) => check_health(&config, args),
        Some(Command::Trades(args)) => print_trades(&config, args),
        Some(Command::Db(DbCommand::Migrate)) => migrate_database(&config),
        Some(Command::Dashboard) => run_dashboard(config),
        Some(Command::KillSwitch(command)) => flip_kill_switch(&config, command),
        Some(Command::Run(args)) => run(config, args),
        None => run(config, RunArgs::default()),
    }
}

fn run(mut config: Config, args: RunArgs) -> ExitCode {
    if let Some(mode) = args.mode {
        config.trading.mode = mode;
    }
    let options = RunOptions {
        replay: args.replay,
        speed: args.speed,
    };
    serve_process(config, |config, log| daemon::run(config, options, log))
}

fn run_dashboard(mut config: Config) -> ExitCode {
    // Its own log folder: two processes must not rotate one file.
    config.log.dir = config.log.dir.join("dashboard");
    serve_process(config, tradebot::commands::dashboard::run)
}

/// Runs a long-lived process (the daemon, the dashboard) with logging and a
/// runtime, and maps its end to an exit code.
fn serve_process<F, Fut>(config: Config, body: F) -> ExitCode
where
    F: FnOnce(Config, telemetry::LogWriter) -> Fut,
    Fut: std::future::Future<Output = Result<(), daemon::DaemonError>>,
{
    let guard = match telemetry::init(&config.log_settings()) {
        Ok(guard) => guard,
        Err(err) => return fatal_before_logging("Logging could not start; not starting", &err),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            error!(error = %err, "Cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(body(config, guard.writer().clone()));
    runtime.shutdown_timeout(Duration::from_secs(1));
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let message = match err.exit_code() {
                2 => "Daemon could not start",
                _ => "Daemon stopped on an error",
            };
            error!(error = %telemetry::error_chain(&err), "{message}");
            ExitCode::from(err.exit_code())
        }
    };
    // The guard flushes every queued line; it must outlive every log call.
    drop(guard);
    code
}

fn config_check(config: &Config) -> ExitCode {
    let secrets = SecretsManager::from_process_env_in(config.secrets.dir.clone());
    let database_url = match tradebot::store::database_url_from_env() {
        Ok(url) => url,
        Err(err) => return command_failed("Configuration invalid", &err, true),
    };
    let (report, ok) =
        tradebot::commands::config_check::report(config, &secrets, database_url.as_ref());
    match serde_json::to_string(&report) {
        Ok(text) => print_line(text),
        Err(err) => {
            eprintln!("cannot render the configuration: {err}");
            return ExitCode::FAILURE;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

fn init_secrets(args: SecretsInitArgs) -> ExitCode {
    let options = secrets_init::InitOptions {
        dir: args.dir,
        env_file: args.env_file,
        non_interactive: args.non_interactive,
        force: args.force,
    };
    // Only the two credentials are read here; a variable that is not UTF-8
    // counts as absent (and is never printed).
    let vars = ["EXCHANGE_API_KEY", "EXCHANGE_API_SECRET"]
        .into_iter()
        .filter_map(|name| Some((name.to_owned(), std::env::var(name).ok()?)))
        .collect();
    let mut stdout = std::io::stdout();
    let result = if io::stdin().is_terminal() {
        secrets_init::run(&options, &mut secrets_init::Terminal, &vars, &mut stdout)
    } else {
        let mut lines = secrets_init::Lines(io::stdin().lock());
        secrets_init::run(&options, &mut lines, &vars, &mut stdout)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            print_line(
                serde_json::json!({ "level": "ERROR", "error": telemetry::error_chain(&err) }),
            );
            ExitCode::FAILURE
        }
    }
}

fn check_secrets(config: &Config) -> ExitCode {
    let secrets = SecretsManager::from_process_env_in(config.secrets.dir.clone());
    let (lines, ok) = secrets_check::report(&secrets, config.trading.mode);
    for line in lines {
        print_line(line);
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_health(config: &Config, args: HealthcheckArgs) -> ExitCode {
    let url = args
        .url
        .unwrap_or_else(|| healthcheck::health_url(config.http.bind));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            print_line(serde_json::json!({ "status": "unhealthy", "error": err.to_string() }));
            return ExitCode::FAILURE;
        }
    };
    let healthy = runtime.block_on(healthcheck::check(&url, Duration::from_secs(args.timeout)));
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_trades(config: &Config, args: TradesArgs) -> ExitCode {
    let filter = tradebot::store::TradeFilter {
        account: args.account,
        // Symbols are stored upper case, as Binance spells them.
        symbol: args.symbol.map(|s| s.to_ascii_uppercase()),
        since: args.since,
        limit: args.limit,
    };
    let result = block_on(database::trades(config, &filter));
    match result {
        Ok(Ok(trades)) => {
            for trade in trades {
                print_line(trade);
            }
            ExitCode::SUCCESS
        }
        Ok(Err(err)) => {
            let setting = matches!(&err, database::TradesError::Store(e) if e.is_setting());
            command_failed("Cannot read the trades", &err, setting)
        }
        Err(err) => command_failed("Cannot start the async runtime", &err, false),
    }
}

fn flip_kill_switch(config: &Config, command: KillSwitchCommand) -> ExitCode {
    let base = |url: Option<String>| url.unwrap_or_else(|| healthcheck::base_url(config.http.bind));
    let (action, args) = match command {
        KillSwitchCommand::Status(target) => {
            return print_answer(block_on(kill_switch::status(&base(target.url))));
        }
        KillSwitchCommand::Activate(args) => ("activate", args),
        KillSwitchCommand::Deactivate(args) => ("deactivate", args),
    };
    if args.reason.trim().is_empty() {
        let err = io::Error::other("--reason must not be empty");
        return command_failed("Kill switch not changed", &err, true);
    }
    let secrets = SecretsManager::from_process_env_in(config.secrets.dir.clone());
    let secret = match secrets.load(SecretName::KillSwitchSecret) {
        Ok(loaded) => loaded.value,
        Err(err) => {
            log_error(
                "Kill switch not changed: no kill_switch_secret here. Outside a container, point at the folder `tradebot secrets init` wrote: SECRETS_DIR=secrets",
                &err,
            );
            return ExitCode::from(2);
        }
    };
    let url = base(args.target.url);
    print_answer(block_on(kill_switch::flip(
        &url,
        action,
        &args.reason,
        &secret,
    )))
}

/// Prints the server's answer; exit 0 only for a 2xx.
fn print_answer(answer: io::Result<kill_switch::Answer>) -> ExitCode {
    match answer {
        Ok(answer) => {
            print_line(&answer.body);
            if answer.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => command_failed("Cannot start the async runtime", &err, false),
    }
}

fn migrate_database(config: &Config) -> ExitCode {
    match block_on(database::migrate(config)) {
        Ok(Ok(report)) => {
            print_line(report);
            ExitCode::SUCCESS
        }
        Ok(Err(err)) => command_failed("Database migration failed", &err, err.is_setting()),
        Err(err) => command_failed("Cannot start the async runtime", &err, false),
    }
}

/// Runs a command's future on a small runtime of its own.
fn block_on<T>(work: impl std::future::Future<Output = T>) -> io::Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(work))
}

/// One ERROR log line naming what failed; exit 2 for a bad setting, 1
/// otherwise.
fn command_failed(message: &str, err: &dyn std::error::Error, setting: bool) -> ExitCode {
    log_error(message, err);
    if setting {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// Reports an error from before logging is configured as one JSON line.
fn fatal_before_logging(message: &str, err: &dyn std::error::Error) -> ExitCode {
    log_error(message, err);
    ExitCode::from(2)
}

/// One ERROR line in the daemon's JSON shape, from a command that has no
/// logging of its own.
fn log_error(message: &str, err: &dyn std::error::Error) {
    let detail = telemetry::error_chain(err);
    match telemetry::init_bootstrap() {
        Ok(guard) => {
            error!(error = %detail, "{message}");
            drop(guard);
        }
        // A logger already installed (cannot happen in the binary): stderr.
        Err(_) => eprintln!("{message}: {detail}"),
    }
}
