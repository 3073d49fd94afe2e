//! Process housekeeping shared by the server binaries: the PID file `bin/mqshutdown` reads.

use std::io;
use std::path::PathBuf;

/// `<dir>/mq<role>-<port>.pid`, holding our process id while we run; `mqshutdown <role>` reads
/// it. Removed on drop, so every return path of a server's main cleans it up.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// `role` is `namesrv` or `broker`.
    pub fn create(role: &str, port: u16) -> io::Result<Self> {
        let dir = pid_dir()?;
        std::fs::create_dir_all(&dir).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot create PID directory {}: {e}", dir.display()),
            )
        })?;
        let path = dir.join(format!("mq{role}-{port}.pid"));
        std::fs::write(&path, format!("{}\n", std::process::id())).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot write PID file {}: {e}", path.display()),
            )
        })?;
        Ok(Self { path })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!("cannot remove PID file {}: {error}", self.path.display());
        }
    }
}

/// `$BOLIDE_PID_DIR`, else `$HOME/.bolide/run`: the same rule as `bin/mqshutdown`.
fn pid_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("BOLIDE_PID_DIR").filter(|dir| !dir.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "neither BOLIDE_PID_DIR nor HOME is set: nowhere to write the PID file",
            )
        })?;
    Ok(PathBuf::from(home).join(".bolide").join("run"))
}
