//! The build context, streamed to the engine as a tar in bounded chunks.
//!
//! A blocking thread walks the context (honouring `.dockerignore`) and writes the tar into
//! a [`ChunkWriter`] that hands 64 KiB chunks to a bounded channel, so at most a few
//! chunks are in memory whatever the size of the context.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::dockerignore::DockerIgnore;
use crate::error::BuildError;

const CHUNK: usize = 64 * 1024;
const CHANNEL_DEPTH: usize = 4;

/// What goes into a context tar.
#[derive(Debug, Clone)]
pub struct ContextSpec {
    /// The context folder.
    pub context: PathBuf,
    /// The Dockerfile (inside or outside the context).
    pub dockerfile: PathBuf,
    /// Send this text as the Dockerfile instead of the file's contents (a rewritten copy).
    pub dockerfile_text: Option<String>,
}

/// A context ready to stream: the Dockerfile name the engine must use, and the tar.
pub struct ContextStream {
    /// The `dockerfile` parameter for the engine (path inside the tar).
    pub dockerfile_in_tar: String,
    /// The tar, chunk by chunk; an `Err` aborts the build.
    pub chunks: mpsc::Receiver<io::Result<Bytes>>,
}

/// The files a context sends, in tar order (for tests and `--dry-run` style listings).
pub fn list_files(spec: &ContextSpec) -> Result<Vec<String>, BuildError> {
    let ignore = load_ignore(&spec.context)?;
    let mut out = Vec::new();
    walk(&spec.context, &ignore, &mut |rel, _| {
        out.push(rel.to_string());
        Ok(())
    })
    .map_err(|source| BuildError::Context {
        path: spec.context.clone(),
        source,
    })?;
    Ok(out)
}

/// Read and compile `context/.dockerignore` (none: nothing ignored).
pub(crate) fn load_ignore(context: &Path) -> Result<DockerIgnore, BuildError> {
    let path = context.join(".dockerignore");
    DockerIgnore::load(context)
        .map_err(|source| BuildError::Context {
            path: path.clone(),
            source,
        })?
        .map_err(|e| BuildError::DockerIgnore {
            path,
            message: e.to_string(),
        })
}

/// Walk `root` in sorted order, calling `f(relative_path, absolute_path)` for every
/// entry that is not excluded. Symlinks are sent as links, never followed.
pub(crate) fn walk(
    root: &Path,
    ignore: &DockerIgnore,
    f: &mut dyn FnMut(&str, &Path) -> io::Result<()>,
) -> io::Result<()> {
    let mut it = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(entry) = it.next() {
        let entry = entry.map_err(io::Error::other)?;
        let rel = entry
            .path()
            .strip_prefix(root)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let always = rel == ".dockerignore";
        if !always && ignore.is_excluded(&rel) {
            if entry.file_type().is_dir() && !ignore.has_exceptions() {
                it.skip_current_dir();
            }
            continue;
        }
        f(&rel, entry.path())?;
    }
    Ok(())
}

/// Writes into the channel in fixed-size chunks.
struct ChunkWriter {
    buf: Vec<u8>,
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "engine stopped reading the context",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Start streaming the context of `spec`. Must be called inside a Tokio runtime.
pub fn stream(spec: &ContextSpec) -> Result<ContextStream, BuildError> {
    let ignore = load_ignore(&spec.context)?;
    let context = std::fs::canonicalize(&spec.context).map_err(|source| BuildError::Context {
        path: spec.context.clone(),
        source,
    })?;
    let dockerfile =
        std::fs::canonicalize(&spec.dockerfile).map_err(|source| BuildError::Context {
            path: spec.dockerfile.clone(),
            source,
        })?;

    // A Dockerfile inside the context is sent at its own path even when `.dockerignore`
    // excludes it (the engine drops it again after reading it, as with the docker CLI).
    // One outside the context is added under a hidden name that the `.dockerignore` we
    // send also lists, so the engine removes it before COPY/ADD can see it. A rewritten
    // Dockerfile (`dockerfile_text`) is always sent under the hidden name.
    let text = spec.dockerfile_text.clone();
    let inside = match &text {
        Some(_) => None,
        None => dockerfile
            .strip_prefix(&context)
            .ok()
            .map(|p| p.to_string_lossy().replace('\\', "/")),
    };
    let (dockerfile_in_tar, injected) = match inside {
        Some(rel) => (rel, None),
        None => {
            // A fixed name: the .dockerignore we send lists it, and COPY of that file
            // must not differ between runs or every build would miss the cache.
            let name = ".flow-dockerfile".to_string();
            (name.clone(), Some(name))
        }
    };

    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let err_tx = tx.clone();
    let in_tar = dockerfile_in_tar.clone();
    std::thread::spawn(move || {
        let source = match text {
            Some(t) => DockerfileSource::Text(t),
            None => DockerfileSource::File(dockerfile),
        };
        let result = write_tar(&context, &source, &in_tar, injected.as_deref(), &ignore, tx);
        if let Err(e) = result {
            let _ = err_tx.blocking_send(Err(e));
        }
    });
    Ok(ContextStream {
        dockerfile_in_tar,
        chunks: rx,
    })
}

enum DockerfileSource {
    File(PathBuf),
    Text(String),
}

fn write_tar(
    context: &Path,
    dockerfile: &DockerfileSource,
    dockerfile_in_tar: &str,
    injected: Option<&str>,
    ignore: &DockerIgnore,
    tx: mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    let mut tar = tar::Builder::new(ChunkWriter {
        buf: Vec::with_capacity(CHUNK),
        tx,
    });
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    let mut dockerfile_sent = false;
    walk(context, ignore, &mut |rel, abs| {
        if rel == ".dockerignore" && injected.is_some() {
            return Ok(()); // written below, with the injected name appended
        }
        if rel == dockerfile_in_tar {
            dockerfile_sent = true;
        }
        // The name as the file system has it: a non-UTF-8 name is sent byte for byte,
        // as the docker CLI does (`rel`, for matching, is its lossy text form).
        let name = abs.strip_prefix(context).unwrap_or(Path::new(rel));
        append_entry(&mut tar, abs, name)
    })?;
    if !dockerfile_sent {
        match dockerfile {
            DockerfileSource::File(path) => {
                append_entry(&mut tar, path, Path::new(dockerfile_in_tar))?
            }
            DockerfileSource::Text(text) => append_text(&mut tar, dockerfile_in_tar, text)?,
        }
    }
    if let Some(name) = injected {
        // With no .dockerignore of the user's, the one we make also lists itself, so the
        // engine drops it too and COPY sees exactly the user's files.
        let mut text = match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => ".dockerignore\n".to_string(),
            Err(e) => return Err(e),
        };
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(name);
        text.push('\n');
        append_text(&mut tar, ".dockerignore", &text)?;
    }
    let mut w = tar.into_inner()?;
    w.flush()
}

/// One file, folder or symlink with its mode and mtime, owned by root (as the docker CLI
/// sends contexts: permissions such as 0600 or setuid survive).
fn append_entry<W: Write>(tar: &mut tar::Builder<W>, abs: &Path, rel: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(abs)?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    header.set_uid(0);
    header.set_gid(0);
    let _ = header.set_username("");
    let _ = header.set_groupname("");
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(abs)?;
        tar.append_link(&mut header, rel, target)
    } else if kind.is_dir() {
        header.set_size(0);
        tar.append_data(&mut header, rel, io::empty())
    } else if kind.is_file() {
        tar.append_data(&mut header, rel, std::fs::File::open(abs)?)
    } else {
        Ok(()) // sockets, fifos and devices are not sent (as with the docker CLI)
    }
}

fn append_text<W: Write>(tar: &mut tar::Builder<W>, name: &str, text: &str) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, name, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_respecting_dockerignore() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path();
        std::fs::create_dir_all(p.join("node_modules/x")).unwrap();
        std::fs::create_dir_all(p.join("src")).unwrap();
        std::fs::write(p.join("node_modules/x/a.js"), "").unwrap();
        std::fs::write(p.join("src/main.rs"), "").unwrap();
        std::fs::write(p.join("notes.md"), "").unwrap();
        std::fs::write(p.join("README.md"), "").unwrap();
        std::fs::write(p.join("Dockerfile"), "").unwrap();
        std::fs::write(
            p.join(".dockerignore"),
            "node_modules\n*.md\n!README.md\nDockerfile\n.dockerignore\n",
        )
        .unwrap();
        let files = list_files(&ContextSpec {
            context: p.into(),
            dockerfile: p.join("Dockerfile"),
            dockerfile_text: None,
        })
        .unwrap();
        assert_eq!(
            files,
            vec![".dockerignore", "README.md", "src", "src/main.rs"]
        );
    }

    #[tokio::test]
    async fn streams_a_valid_tar_with_outside_dockerfile() {
        let t = tempfile::tempdir().unwrap();
        let ctx = t.path().join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("big.bin"), vec![7u8; 300_000]).unwrap();
        std::fs::write(t.path().join("Dockerfile.api"), "FROM scratch\n").unwrap();
        let mut s = stream(&ContextSpec {
            context: ctx,
            dockerfile: t.path().join("Dockerfile.api"),
            dockerfile_text: Some("FROM scratch\nLABEL a=b\n".into()),
        })
        .unwrap();
        let mut all = Vec::new();
        let mut chunks = 0;
        while let Some(c) = s.chunks.recv().await {
            let c = c.unwrap();
            assert!(c.len() <= CHUNK);
            chunks += 1;
            all.extend_from_slice(&c);
        }
        assert!(chunks > 4);
        let mut ar = tar::Archive::new(&all[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.contains(&"big.bin".to_string()));
        assert!(names.contains(&s.dockerfile_in_tar));
        assert_eq!(s.dockerfile_in_tar, ".flow-dockerfile");
        assert!(names.contains(&".dockerignore".to_string()));
        let mut ar = tar::Archive::new(&all[..]);
        let mut sent = String::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == s.dockerfile_in_tar {
                std::io::Read::read_to_string(&mut e, &mut sent).unwrap();
            }
        }
        assert_eq!(
            sent, "FROM scratch\nLABEL a=b\n",
            "the rewritten text is sent"
        );
    }
}
