//! `mqtools`: what RocketMQ's `bin/tools.sh` runs, for the quickstart examples only:
//!
//! ```text
//! NAMESRV_ADDR=127.0.0.1:9876 bin/tools.sh org.apache.rocketmq.example.quickstart.Producer
//! NAMESRV_ADDR=127.0.0.1:9876 bin/tools.sh org.apache.rocketmq.example.quickstart.Consumer
//! ```
//!
//! The short names `Producer` and `Consumer` work too. Further arguments are ignored, as the
//! Java examples ignore theirs. The examples live in [`bolide_client::quickstart`].

use anyhow::Context;
use bolide_client::bench::interrupted;
use bolide_client::quickstart::{self, Example};

fn main() -> anyhow::Result<()> {
    let Some(name) = std::env::args().nth(1) else {
        anyhow::bail!(
            "usage: mqtools <class> (NAMESRV_ADDR from the environment); classes: {}",
            Example::CLASS_NAMES.join(", ")
        );
    };
    let example = Example::from_name(&name)?;
    let from_env = std::env::var("NAMESRV_ADDR").ok();
    let (namesrv, note) = quickstart::namesrv_addr(from_env.as_deref());
    if let Some(note) = note {
        eprintln!("mqtools: {note}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let mut out = std::io::stdout();
    runtime.block_on(async {
        match example {
            Example::Producer => {
                quickstart::run_producer(&namesrv, quickstart::MESSAGE_COUNT, &mut out).await
            }
            Example::Consumer => quickstart::run_consumer(&namesrv, &mut out, interrupted()).await,
        }
    })
}
