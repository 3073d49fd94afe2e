//! `mqbroker`'s command line, RocketMQ's: `mqbroker [-c FILE] [-n ADDR] [-p] [-m] [-h]`.
//!
//! The result is either a configuration to run or text to print (`-p`, `-m`, `-h`, `-V`), so
//! that `main` stays a thin shell and the whole surface is testable without a process.
//!
//! Precedence, as in RocketMQ: the `-c` file over the defaults, `-n` over the file's
//! `namesrvAddr`; the `NAMESRV_ADDR` environment variable applies only when neither sets it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use clap::error::ErrorKind;
use thiserror::Error;

use crate::config::{BrokerConfig, ConfigError};

/// The Bolide broker (RocketMQ 4.x compatible).
#[derive(Debug, Parser)]
#[command(name = "mqbroker", version)]
struct Args {
    /// Broker config properties file
    #[arg(
        short = 'c',
        long = "config-file",
        alias = "configFile",
        value_name = "FILE"
    )]
    config_file: Option<PathBuf>,

    /// Name server address list, e.g. '192.168.0.1:9876;192.168.0.2:9876'
    #[arg(
        short = 'n',
        long = "namesrv-addr",
        alias = "namesrvAddr",
        value_name = "ADDR"
    )]
    namesrv_addr: Option<String>,

    /// Print all config items and exit
    #[arg(short = 'p', long = "print-config-item", alias = "printConfigItem")]
    print_config_item: bool,

    /// Print important config items and exit
    #[arg(
        short = 'm',
        long = "print-important-config",
        alias = "printImportantConfig"
    )]
    print_important_config: bool,
}

/// What `mqbroker` was asked to do.
// The configuration is built once per process; boxing it would only add noise for the caller.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum CliAction {
    /// Start a broker with this (checked) configuration.
    Run(BrokerConfig),
    /// Print this text to stdout and exit successfully: `-p`, `-m`, `-h` or `-V`.
    Print(String),
}

/// Why the command line was refused.
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments; clap's message already says which and shows the usage.
    #[error("{0}")]
    Usage(#[from] clap::Error),
    /// The `-c` file was refused; the message names the file and line.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A value given outside the file (`-n`, `NAMESRV_ADDR`) was refused.
    #[error("{origin}: {source}")]
    Setting {
        origin: &'static str,
        source: ConfigError,
    },
}

/// Parses `mqbroker`'s arguments (the first is the program name) and loads the configuration.
/// Reads `NAMESRV_ADDR` from the environment. Call it after logging is set up: configuration
/// warnings go through `tracing`.
pub fn parse_args<I, T>(args: I) -> Result<CliAction, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let namesrv_addr_env = std::env::var("NAMESRV_ADDR").ok();
    parse_args_with_env(args, namesrv_addr_env.as_deref())
}

/// [`parse_args`] with the value of `NAMESRV_ADDR` passed in rather than read.
pub fn parse_args_with_env<I, T>(
    args: I,
    namesrv_addr_env: Option<&str>,
) -> Result<CliAction, CliError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            ) =>
        {
            return Ok(CliAction::Print(error.to_string()));
        }
        Err(error) => return Err(error.into()),
    };
    let mut config = match &args.config_file {
        Some(path) => BrokerConfig::load(path)?,
        None => BrokerConfig::default(),
    };
    let setting = |origin: &'static str| move |source| CliError::Setting { origin, source };
    if let Some(addr) = &args.namesrv_addr {
        config.apply("namesrvAddr", addr).map_err(setting("-n"))?;
    } else if let Some(addr) = namesrv_addr_env.filter(|addr| !addr.trim().is_empty())
        && config.namesrv_addr.is_none()
    {
        config
            .apply("namesrvAddr", addr)
            .map_err(setting("NAMESRV_ADDR"))?;
    }
    if args.print_config_item {
        return Ok(CliAction::Print(config.to_properties()));
    }
    if args.print_important_config {
        return Ok(CliAction::Print(config.important_properties()));
    }
    Ok(CliAction::Run(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_file(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file.flush().unwrap();
        file
    }

    fn run(args: &[&str], env: Option<&str>) -> BrokerConfig {
        let mut argv = vec!["mqbroker"];
        argv.extend_from_slice(args);
        match parse_args_with_env(argv, env).unwrap() {
            CliAction::Run(config) => config,
            CliAction::Print(text) => panic!("expected a configuration, got {text}"),
        }
    }

    fn print(args: &[&str]) -> String {
        let mut argv = vec!["mqbroker"];
        argv.extend_from_slice(args);
        match parse_args_with_env(argv, None).unwrap() {
            CliAction::Print(text) => text,
            CliAction::Run(_) => panic!("expected text to print"),
        }
    }

    #[test]
    fn no_arguments_runs_the_defaults() {
        assert_eq!(run(&[], None), BrokerConfig::default());
    }

    #[test]
    fn config_file_is_loaded() {
        let file = write_file("brokerName=broker-b\nlistenPort=10931\n");
        let config = run(&["-c", file.path().to_str().unwrap()], None);
        assert_eq!(config.broker_name, "broker-b");
        assert_eq!(config.listen_port, 10931);
        let config = run(&["--configFile", file.path().to_str().unwrap()], None);
        assert_eq!(config.broker_name, "broker-b");
    }

    #[test]
    fn namesrv_addr_precedence_is_option_then_file_then_environment() {
        let file = write_file("namesrvAddr=10.0.0.1:9876\n");
        let path = file.path().to_str().unwrap();
        let env = Some("10.0.0.9:9876");

        let config = run(&["-c", path, "-n", "10.0.0.2:9876;10.0.0.3:9876"], env);
        assert_eq!(config.namesrv_addrs(), ["10.0.0.2:9876", "10.0.0.3:9876"]);
        let config = run(&["-c", path], env);
        assert_eq!(config.namesrv_addr.as_deref(), Some("10.0.0.1:9876"));
        let config = run(&[], env);
        assert_eq!(config.namesrv_addr.as_deref(), Some("10.0.0.9:9876"));
        let config = run(&[], Some("  "));
        assert_eq!(config.namesrv_addr, None);
    }

    #[test]
    fn print_options_print_after_applying_the_file_and_n() {
        let file = write_file("brokerName=broker-p\n");
        let path = file.path().to_str().unwrap();
        let all = print(&["-c", path, "-n", "127.0.0.1:9876", "-p"]);
        assert!(all.contains("\nbrokerName=broker-p\n"), "{all}");
        assert!(all.contains("\nnamesrvAddr=127.0.0.1:9876\n"), "{all}");
        assert!(all.contains("\nflushIntervalCommitLog=500\n"), "{all}");

        let important = print(&["-c", path, "-m"]);
        assert!(important.contains("brokerName=broker-p\n"), "{important}");
        assert!(!important.contains("flushIntervalCommitLog"), "{important}");
        assert!(important.len() < all.len());
    }

    #[test]
    fn help_and_version_are_text_to_print() {
        let help = print(&["-h"]);
        assert!(help.contains("-c, --config-file <FILE>"), "{help}");
        assert!(help.contains("-m, --print-important-config"), "{help}");
        assert!(print(&["-V"]).starts_with("mqbroker "));
    }

    #[test]
    fn errors_say_where_the_bad_value_came_from() {
        let error = parse_args_with_env(["mqbroker", "-n", "nowhere"], None).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("-n: namesrvAddr = 'nowhere' is not "),
            "{error}"
        );
        let error = parse_args_with_env(["mqbroker"], Some("bad")).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("NAMESRV_ADDR: namesrvAddr = 'bad' is not "),
            "{error}"
        );
        let file = write_file("brokerRole=MASTER\n");
        let error = parse_args_with_env(["mqbroker", "-c", file.path().to_str().unwrap()], None)
            .unwrap_err();
        assert!(matches!(error, CliError::Config(_)), "{error}");
        assert!(
            error.to_string().contains(" line 1: brokerRole = 'MASTER'"),
            "{error}"
        );

        let error = parse_args_with_env(["mqbroker", "-x"], None).unwrap_err();
        assert!(matches!(error, CliError::Usage(_)), "{error}");
    }
}
