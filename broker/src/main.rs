//! `mqbroker`: refuses to start with a clear message until the broker is implemented.

fn main() -> std::process::ExitCode {
    eprintln!("{}", bolide_broker::NOT_IMPLEMENTED);
    std::process::ExitCode::from(2)
}
