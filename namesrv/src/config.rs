//! Name server configuration: RocketMQ's `namesrv.properties` keys, mapped once onto typed fields.
//!
//! The file is read as Java properties (the `java-properties` crate, ISO-8859-1 like
//! `java.util.Properties.load`), so `key=value`, `key = value`, `key:value`, `#`/`!` comments and
//! `\` line continuations all work as they do for RocketMQ. Unlike Java, which silently drops
//! unknown keys and unparsable values, Bolide refuses a bad value with the file and line that
//! holds it, and warns about keys it does not know or knowingly ignores.
//!
//! The same key names go back out in [`NamesrvConfig::to_properties`], the body of
//! GET_NAMESRV_CONFIG and the output of `mqnamesrv -p`.

use std::path::{Path, PathBuf};

use bolide_client::properties::{self, ReadError, expand_home, home_dir, location};
use thiserror::Error;

/// Keys that UPDATE_NAMESRV_CONFIG may change on a running server.
///
/// Never a path key: letting a remote peer point `kvConfigPath` or `configStorePath` at an
/// arbitrary file is how CVE-2023-37582 wrote attacker-chosen files on RocketMQ name servers.
pub const RUNTIME_UPDATABLE_KEYS: &[&str] = &["orderMessageEnable"];

/// Keys of RocketMQ's NamesrvConfig/NettyServerConfig that tune Java machinery (Netty threads,
/// semaphores, socket buffers, allocators) Bolide does not have: accepted with a warning, so that
/// a RocketMQ configuration file starts unchanged.
pub const IGNORED_KEYS: &[&str] = &[
    "serverAsyncSemaphoreValue",
    "serverCallbackExecutorThreads",
    "serverOnewaySemaphoreValue",
    "serverPooledByteBufAllocatorEnable",
    "serverSelectorThreads",
    "serverSocketBacklog",
    "serverSocketRcvBufSize",
    "serverSocketSndBufSize",
    "serverWorkerThreads",
    "useEpollNativeSelector",
    "writeBufferHighWaterMark",
    "writeBufferLowWaterMark",
];

// Why these bounds: below a second the expiry scan would spin; beyond a day a dead broker would
// stay routable for longer than anyone would want, so such a value is almost surely a typo.
const MIN_INTERVAL_MS: u64 = 1_000;
const MAX_INTERVAL_MS: u64 = 86_400_000;
const MIN_IDLE_SECONDS: u64 = 1;
const MAX_IDLE_SECONDS: u64 = 86_400;

const DEFAULT_LISTEN_PORT: u16 = 9876;
const DEFAULT_PRODUCT_ENV_NAME: &str = "center";
const DEFAULT_SCAN_NOT_ACTIVE_BROKER_INTERVAL_MS: u64 = 10_000;
const DEFAULT_BROKER_CHANNEL_EXPIRED_TIME_MS: u64 = 120_000;
const DEFAULT_SERVER_CHANNEL_MAX_IDLE_TIME_SECONDS: u64 = 120;

/// Everything the name server can be told at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct NamesrvConfig {
    /// `listenPort`: the TCP port clients, brokers and admin tools connect to.
    pub listen_port: u16,
    /// `kvConfigPath`: the JSON file holding the KV namespaces (PUT_KV_CONFIG and friends).
    pub kv_config_path: PathBuf,
    /// `configStorePath`: where Java would persist UPDATE_NAMESRV_CONFIG changes. Reported, never
    /// written: Bolide keeps runtime updates in memory only.
    pub config_store_path: PathBuf,
    /// `orderMessageEnable`: fill `orderTopicConf` in routes from the `ORDER_TOPIC_CONFIG` KV
    /// namespace.
    pub order_message_enable: bool,
    /// `clusterTest`: RocketMQ's test-cluster routing switch; kept for GET_NAMESRV_CONFIG.
    pub cluster_test: bool,
    /// `productEnvName`: RocketMQ's environment label; kept for GET_NAMESRV_CONFIG.
    pub product_env_name: String,
    /// `scanNotActiveBrokerInterval`: how often brokers that stopped registering are looked for.
    pub scan_not_active_broker_interval_ms: u64,
    /// `brokerChannelExpiredTime`: a broker silent for longer than this is dropped from routes.
    pub broker_channel_expired_time_ms: u64,
    /// `serverChannelMaxIdleTimeSeconds`: connections idle for longer than this are closed.
    pub server_channel_max_idle_time_seconds: u64,
    /// `rocketmqHome`: Java's install directory (logback configuration); informational only.
    pub rocketmq_home: Option<PathBuf>,
}

/// Why a key, a value or a configuration file was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{key} = '{value}' is not {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: &'static str,
    },
    #[error("unknown key '{key}'")]
    UnknownKey { key: String },
    /// The file is missing or is not valid properties text.
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{}: {source}", location(path.display(), Some(*line)))]
    AtLine {
        path: PathBuf,
        line: usize,
        source: Box<ConfigError>,
    },
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        let home = home_dir();
        Self {
            listen_port: DEFAULT_LISTEN_PORT,
            kv_config_path: home.join("namesrv").join("kvConfig.json"),
            config_store_path: home.join("namesrv").join("namesrv.properties"),
            order_message_enable: false,
            cluster_test: false,
            product_env_name: DEFAULT_PRODUCT_ENV_NAME.to_owned(),
            scan_not_active_broker_interval_ms: DEFAULT_SCAN_NOT_ACTIVE_BROKER_INTERVAL_MS,
            broker_channel_expired_time_ms: DEFAULT_BROKER_CHANNEL_EXPIRED_TIME_MS,
            server_channel_max_idle_time_seconds: DEFAULT_SERVER_CHANNEL_MAX_IDLE_TIME_SECONDS,
            // Java reads the same environment variable (or -Drocketmq.home.dir).
            rocketmq_home: std::env::var_os("ROCKETMQ_HOME")
                .filter(|home| !home.is_empty())
                .map(PathBuf::from),
        }
    }
}

impl NamesrvConfig {
    /// Sets one key from its textual value (trimmed). On error the configuration is unchanged.
    ///
    /// Keys in [`IGNORED_KEYS`] are accepted without effect; any other key Bolide does not know
    /// is [`ConfigError::UnknownKey`].
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let value = value.trim();
        match key {
            "listenPort" => self.listen_port = parse_port(key, value)?,
            "kvConfigPath" => self.kv_config_path = parse_path(key, value)?,
            "configStorePath" => self.config_store_path = parse_path(key, value)?,
            "orderMessageEnable" => self.order_message_enable = parse_bool(key, value)?,
            "clusterTest" => self.cluster_test = parse_bool(key, value)?,
            "productEnvName" => self.product_env_name = value.to_owned(),
            "scanNotActiveBrokerInterval" => {
                self.scan_not_active_broker_interval_ms = parse_interval_ms(key, value)?;
            }
            "brokerChannelExpiredTime" => {
                self.broker_channel_expired_time_ms = parse_interval_ms(key, value)?;
            }
            "serverChannelMaxIdleTimeSeconds" => {
                self.server_channel_max_idle_time_seconds = parse_idle_seconds(key, value)?;
            }
            "rocketmqHome" => {
                self.rocketmq_home = (!value.is_empty()).then(|| expand_home(value));
            }
            _ if IGNORED_KEYS.contains(&key) => {}
            _ => {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Reads a properties file over the defaults. Returns the configuration and warnings (unknown
    /// keys, ignored keys, repeated keys), each naming the file and line.
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let entries = properties::read_file(path)?;
        let mut config = Self::default();
        let mut warnings = Vec::new();
        for entry in entries {
            warnings.extend(entry.repeat_warning(path.display()));
            if let Some(warning) = config.apply_line(path, entry.line, &entry.key, &entry.value)? {
                warnings.push(warning);
            }
        }
        Ok((config, warnings))
    }

    /// Applies one file line: an error or a warning, both naming the file and line.
    fn apply_line(
        &mut self,
        path: &Path,
        line: usize,
        key: &str,
        value: &str,
    ) -> Result<Option<String>, ConfigError> {
        let here = location(path.display(), Some(line));
        if IGNORED_KEYS.contains(&key) {
            return Ok(Some(format!(
                "{here}: {key} is a RocketMQ key that Bolide accepts and ignores"
            )));
        }
        match self.apply(key, value) {
            Ok(()) => Ok(None),
            Err(ConfigError::UnknownKey { key }) => {
                Ok(Some(format!("{here}: unknown key '{key}' ignored")))
            }
            Err(error) => Err(ConfigError::AtLine {
                path: path.to_owned(),
                line,
                source: Box::new(error),
            }),
        }
    }

    /// Every key with its RocketMQ name, one `key=value` line each, sorted by key; values are
    /// escaped so that [`NamesrvConfig::load`] (and Java's `Properties.load`) reads them back.
    /// `rocketmqHome` is left out when unset, as Java leaves out null values.
    pub fn to_properties(&self) -> String {
        let mut entries: Vec<(&str, String)> = vec![
            ("listenPort", self.listen_port.to_string()),
            ("kvConfigPath", path_text(&self.kv_config_path)),
            ("configStorePath", path_text(&self.config_store_path)),
            ("orderMessageEnable", self.order_message_enable.to_string()),
            ("clusterTest", self.cluster_test.to_string()),
            ("productEnvName", self.product_env_name.clone()),
            (
                "scanNotActiveBrokerInterval",
                self.scan_not_active_broker_interval_ms.to_string(),
            ),
            (
                "brokerChannelExpiredTime",
                self.broker_channel_expired_time_ms.to_string(),
            ),
            (
                "serverChannelMaxIdleTimeSeconds",
                self.server_channel_max_idle_time_seconds.to_string(),
            ),
        ];
        if let Some(home) = &self.rocketmq_home {
            entries.push(("rocketmqHome", path_text(home)));
        }
        properties::format_sorted(entries)
    }
}

fn parse_port(key: &str, value: &str) -> Result<u16, ConfigError> {
    match value.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(invalid(key, value, "a port number")),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    properties::parse_bool(value).ok_or_else(|| invalid(key, value, "true or false"))
}

fn parse_interval_ms(key: &str, value: &str) -> Result<u64, ConfigError> {
    parse_in_range(
        key,
        value,
        MIN_INTERVAL_MS..=MAX_INTERVAL_MS,
        "a number of milliseconds from 1000 to 86400000",
    )
}

fn parse_idle_seconds(key: &str, value: &str) -> Result<u64, ConfigError> {
    parse_in_range(
        key,
        value,
        MIN_IDLE_SECONDS..=MAX_IDLE_SECONDS,
        "a number of seconds from 1 to 86400",
    )
}

fn parse_in_range(
    key: &str,
    value: &str,
    range: std::ops::RangeInclusive<u64>,
    expected: &'static str,
) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(number) if range.contains(&number) => Ok(number),
        _ => Err(invalid(key, value, expected)),
    }
}

fn parse_path(key: &str, value: &str) -> Result<PathBuf, ConfigError> {
    if value.is_empty() {
        return Err(invalid(key, value, "a path"));
    }
    Ok(expand_home(value))
}

fn invalid(key: &str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
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

    fn load_text(text: &str) -> Result<(NamesrvConfig, Vec<String>), ConfigError> {
        let file = write_file(text);
        NamesrvConfig::load(file.path())
    }

    #[test]
    fn defaults_match_rocketmq() {
        let config = NamesrvConfig::default();
        let home = std::env::home_dir().unwrap();
        assert_eq!(config.listen_port, 9876);
        assert_eq!(config.kv_config_path, home.join("namesrv/kvConfig.json"));
        assert_eq!(
            config.config_store_path,
            home.join("namesrv/namesrv.properties")
        );
        assert!(!config.order_message_enable);
        assert!(!config.cluster_test);
        assert_eq!(config.product_env_name, "center");
        assert_eq!(config.scan_not_active_broker_interval_ms, 10_000);
        assert_eq!(config.broker_channel_expired_time_ms, 120_000);
        assert_eq!(config.server_channel_max_idle_time_seconds, 120);
    }

    #[test]
    fn apply_accepts_good_values() {
        let mut config = NamesrvConfig::default();
        config.apply("listenPort", " 19876 ").unwrap();
        config.apply("orderMessageEnable", "TRUE").unwrap();
        config.apply("clusterTest", "False").unwrap();
        config.apply("productEnvName", "test").unwrap();
        config.apply("scanNotActiveBrokerInterval", "5000").unwrap();
        config.apply("brokerChannelExpiredTime", "1000").unwrap();
        config
            .apply("serverChannelMaxIdleTimeSeconds", "86400")
            .unwrap();
        config.apply("kvConfigPath", "/var/lib/kv.json").unwrap();
        config.apply("configStorePath", "~/ns.properties").unwrap();
        config.apply("rocketmqHome", "~").unwrap();
        config
            .apply("serverWorkerThreads", "not even a number")
            .unwrap();

        let home = std::env::home_dir().unwrap();
        assert_eq!(config.listen_port, 19876);
        assert!(config.order_message_enable);
        assert!(!config.cluster_test);
        assert_eq!(config.product_env_name, "test");
        assert_eq!(config.scan_not_active_broker_interval_ms, 5000);
        assert_eq!(config.broker_channel_expired_time_ms, 1000);
        assert_eq!(config.server_channel_max_idle_time_seconds, 86_400);
        assert_eq!(config.kv_config_path, PathBuf::from("/var/lib/kv.json"));
        assert_eq!(config.config_store_path, home.join("ns.properties"));
        assert_eq!(config.rocketmq_home, Some(home));

        config.apply("rocketmqHome", "  ").unwrap();
        assert_eq!(config.rocketmq_home, None);
    }

    #[test]
    fn apply_refuses_bad_values_and_leaves_config_unchanged() {
        let cases = [
            (
                "listenPort",
                "abc",
                "listenPort = 'abc' is not a port number",
            ),
            ("listenPort", "0", "listenPort = '0' is not a port number"),
            (
                "listenPort",
                "65536",
                "listenPort = '65536' is not a port number",
            ),
            (
                "orderMessageEnable",
                "yes",
                "orderMessageEnable = 'yes' is not true or false",
            ),
            ("clusterTest", "", "clusterTest = '' is not true or false"),
            (
                "scanNotActiveBrokerInterval",
                "999",
                "scanNotActiveBrokerInterval = '999' is not a number of milliseconds from 1000 to 86400000",
            ),
            (
                "brokerChannelExpiredTime",
                "86400001",
                "brokerChannelExpiredTime = '86400001' is not a number of milliseconds from 1000 to 86400000",
            ),
            (
                "serverChannelMaxIdleTimeSeconds",
                "-1",
                "serverChannelMaxIdleTimeSeconds = '-1' is not a number of seconds from 1 to 86400",
            ),
            ("kvConfigPath", " ", "kvConfigPath = '' is not a path"),
        ];
        for (key, value, message) in cases {
            let mut config = NamesrvConfig::default();
            let error = config.apply(key, value).unwrap_err();
            assert_eq!(error.to_string(), message);
            assert_eq!(config, NamesrvConfig::default(), "{key} changed");
        }
    }

    #[test]
    fn apply_refuses_unknown_keys() {
        let mut config = NamesrvConfig::default();
        let error = config.apply("brokerName", "broker-a").unwrap_err();
        assert!(matches!(error, ConfigError::UnknownKey { ref key } if key == "brokerName"));
    }

    #[test]
    fn load_reads_java_properties_syntax() {
        let text = "# a comment\n\
                    ! another comment\n\
                    \n\
                    listenPort = 19876\n\
                    orderMessageEnable:true\n\
                    productEnvName   staging\n\
                    kvConfigPath=/tmp/bolide/\\\n    kv.json\n\
                    brokerChannelExpiredTime=60000   \n";
        let (config, warnings) = load_text(text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.listen_port, 19876);
        assert!(config.order_message_enable);
        assert_eq!(config.product_env_name, "staging");
        assert_eq!(config.kv_config_path, PathBuf::from("/tmp/bolide/kv.json"));
        assert_eq!(config.broker_channel_expired_time_ms, 60_000);
    }

    #[test]
    fn load_warns_about_unknown_ignored_and_repeated_keys() {
        let text = "listenPort=1\nbrokerName=broker-a\nserverWorkerThreads=8\nlistenPort=2\n";
        let file = write_file(text);
        let (config, warnings) = NamesrvConfig::load(file.path()).unwrap();
        let name = file.path().display().to_string();
        assert_eq!(config.listen_port, 2);
        assert_eq!(
            warnings,
            [
                format!("{name} line 2: unknown key 'brokerName' ignored"),
                format!(
                    "{name} line 3: serverWorkerThreads is a RocketMQ key that Bolide accepts and ignores"
                ),
                format!("{name} line 4: listenPort repeats line 1; the later value wins"),
            ]
        );
    }

    #[test]
    fn load_names_file_and_line_of_a_bad_value() {
        let file = write_file("# header\n\nclusterTest=false\n\nlistenPort=abc\n");
        let error = NamesrvConfig::load(file.path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "{} line 5: listenPort = 'abc' is not a port number",
                file.path().display()
            )
        );
    }

    #[test]
    fn load_names_file_and_line_of_a_syntax_error() {
        let file = write_file("listenPort=9876\nproductEnvName=\\u12\n");
        let error = NamesrvConfig::load(file.path()).unwrap_err();
        let message = error.to_string();
        let prefix = format!("{} line 2: malformed properties: ", file.path().display());
        assert!(message.starts_with(&prefix), "{message}");
        assert!(!message.contains("line_number"), "{message}");
    }

    #[test]
    fn load_names_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.properties");
        let error = NamesrvConfig::load(&path).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("cannot read {}: ", path.display())),
            "{error}"
        );
    }

    #[test]
    fn to_properties_is_sorted_and_complete() {
        let mut config = NamesrvConfig {
            rocketmq_home: Some(PathBuf::from("/opt/rocketmq")),
            ..NamesrvConfig::default()
        };
        let text = config.to_properties();
        let keys: Vec<&str> = text
            .lines()
            .map(|line| line.split_once('=').unwrap().0)
            .collect();
        assert_eq!(
            keys,
            [
                "brokerChannelExpiredTime",
                "clusterTest",
                "configStorePath",
                "kvConfigPath",
                "listenPort",
                "orderMessageEnable",
                "productEnvName",
                "rocketmqHome",
                "scanNotActiveBrokerInterval",
                "serverChannelMaxIdleTimeSeconds",
            ]
        );
        assert!(text.contains("\nlistenPort=9876\n"));
        config.rocketmq_home = None;
        assert!(!config.to_properties().contains("rocketmqHome"));
    }

    #[test]
    fn to_properties_round_trips_through_load() {
        let config = NamesrvConfig {
            listen_port: 10_000,
            kv_config_path: PathBuf::from("/tmp/a dir/kv\\config é.json"),
            config_store_path: PathBuf::from("/tmp/store:x=y#z.properties"),
            order_message_enable: true,
            cluster_test: true,
            product_env_name: "prod ☃".to_owned(),
            scan_not_active_broker_interval_ms: 2_000,
            broker_channel_expired_time_ms: 30_000,
            server_channel_max_idle_time_seconds: 60,
            rocketmq_home: Some(PathBuf::from("/opt/rocketmq")),
        };
        let (loaded, warnings) = load_text(&config.to_properties()).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(loaded, config);

        let defaults = NamesrvConfig::default();
        let (loaded, _) = load_text(&defaults.to_properties()).unwrap();
        assert_eq!(loaded, defaults);
    }

    #[test]
    fn sample_configuration_file_gives_the_defaults() {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/namesrv.properties");
        let (config, warnings) = NamesrvConfig::load(&sample).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config, NamesrvConfig::default());
    }

    #[test]
    fn runtime_updatable_keys_exclude_paths() {
        for key in RUNTIME_UPDATABLE_KEYS {
            assert!(
                !key.ends_with("Path"),
                "{key} must not be updatable remotely"
            );
            let mut config = NamesrvConfig::default();
            assert!(
                !matches!(config.apply(key, "x"), Err(ConfigError::UnknownKey { .. })),
                "{key} is not a key"
            );
        }
    }
}
