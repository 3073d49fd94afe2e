//! The sample broker configurations under `conf/` load without errors or warnings, and the
//! brokers of each layout directory can run side by side on one machine: no shared port, no
//! shared store, every slave paired with a master of its broker name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bolide_broker::config::{BrokerConfig, BrokerRole};

fn conf_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf")
}

/// Every broker configuration file under `conf/`, by directory.
fn broker_files() -> BTreeMap<PathBuf, Vec<PathBuf>> {
    let mut layouts: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut pending = vec![conf_dir()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.file_name().is_some_and(|name| {
                // Name server files (namesrv.properties, a layout's namesrv-a/-b) are not
                // broker files: tests/namesrv_cluster.rs loads those.
                !name.to_string_lossy().starts_with("namesrv")
            }) {
                layouts.entry(dir.clone()).or_default().push(path);
            }
        }
    }
    for files in layouts.values_mut() {
        files.sort();
    }
    layouts
}

fn load(path: &Path) -> BrokerConfig {
    let (config, warnings) = BrokerConfig::load_with_warnings(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
    config
}

fn ports(config: &BrokerConfig) -> std::ops::RangeInclusive<u16> {
    config.fast_listen_port()..=config.ha_listen_port()
}

#[test]
fn every_sample_loads_cleanly() {
    let layouts = broker_files();
    let count: usize = layouts.values().map(Vec::len).sum();
    // broker.conf, 2m-2s-async (4), 2m-2s-sync (4), 2m-noslave (2).
    assert!(count >= 11, "only {count} broker files found under conf/");
    for path in layouts.values().flatten() {
        let config = load(path);
        assert_eq!(
            config.broker_cluster_name,
            "DefaultCluster",
            "{}",
            path.display()
        );
        assert!(
            !config.namesrv_addrs().is_empty(),
            "{}: no namesrvAddr",
            path.display()
        );
    }
}

#[test]
fn brokers_of_a_layout_share_no_port_or_store() {
    for (dir, files) in broker_files() {
        let configs: Vec<(PathBuf, BrokerConfig)> = files
            .iter()
            .map(|path| (path.clone(), load(path)))
            .collect();
        for (index, (path, config)) in configs.iter().enumerate() {
            for (other_path, other) in &configs[index + 1..] {
                let pair = format!("{} and {}", path.display(), other_path.display());
                let (mine, theirs) = (ports(config), ports(other));
                assert!(
                    mine.end() < theirs.start() || theirs.end() < mine.start(),
                    "{pair} share a port: {mine:?} and {theirs:?}"
                );
                for (a, b) in [(config, other), (other, config)] {
                    let root = &a.store_path_root_dir;
                    assert!(
                        !b.store_path_root_dir.starts_with(root),
                        "{pair} share a store"
                    );
                    assert!(
                        !b.commit_log_dir().starts_with(root),
                        "{pair} share a store"
                    );
                    assert!(
                        !b.commit_log_dir().starts_with(a.commit_log_dir()),
                        "{pair} share a commit log"
                    );
                }
                assert_eq!(config.namesrv_addr, other.namesrv_addr, "{pair}");
            }
        }
        assert!(!configs.is_empty(), "{}", dir.display());
    }
}

#[test]
fn slaves_pair_with_a_master_of_their_layout() {
    for (dir, files) in broker_files() {
        let configs: Vec<BrokerConfig> = files.iter().map(|path| load(path)).collect();
        let masters: Vec<&BrokerConfig> = configs.iter().filter(|c| c.is_master()).collect();
        for config in &configs {
            if config.is_master() {
                assert_eq!(config.broker_id, 0);
                let same_name = masters
                    .iter()
                    .filter(|m| m.broker_name == config.broker_name)
                    .count();
                assert_eq!(
                    same_name,
                    1,
                    "{}: two masters {}",
                    dir.display(),
                    config.broker_name
                );
            } else {
                assert!(
                    config.broker_id >= 1,
                    "{}: slave id {}",
                    dir.display(),
                    config.broker_id
                );
                assert!(
                    masters.iter().any(|m| m.broker_name == config.broker_name),
                    "{}: slave {} has no master",
                    dir.display(),
                    config.broker_name
                );
            }
        }
    }
}

#[test]
fn layout_names_say_how_masters_replicate() {
    for (dir, files) in broker_files() {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected = if name.ends_with("-sync") {
            BrokerRole::SyncMaster
        } else {
            BrokerRole::AsyncMaster
        };
        for path in &files {
            let config = load(path);
            let is_slave_file = path.to_string_lossy().ends_with("-s.properties");
            assert_eq!(!config.is_master(), is_slave_file, "{}", path.display());
            if config.is_master() {
                assert_eq!(config.broker_role, expected, "{}", path.display());
            }
            if name.ends_with("-noslave") {
                assert!(config.is_master(), "{}", path.display());
            }
        }
    }
}
