//! `mqadmin`: RocketMQ's admin command line, with RocketMQ's subcommand names and flags.
//!
//! A thin `main`: the commands live in `bolide_client::admin::cli`, where tests run them in
//! process. Exit code 1 and a message naming what failed (server address, topic or group,
//! response code and remark) on any error.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::anyhow!("cannot start the runtime: {error}")),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut out = std::io::stdout();
    match runtime.block_on(bolide_client::admin::cli::run(args, &mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast::<clap::Error>() {
            // Help, version and usage errors print clap's own text and exit code.
            Ok(usage) => usage.exit(),
            Err(error) => fail(&error),
        },
    }
}

#[allow(clippy::print_stderr)]
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("mqadmin: {}", bolide_client::admin::cli::error_text(error));
    ExitCode::FAILURE
}
