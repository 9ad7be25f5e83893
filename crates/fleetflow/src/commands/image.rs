//! `flow image ...`: the daemonless operations, on the registry crate's client, cache
//! and transfers. Resolves references and credentials, runs, reports, maps errors to
//! exit codes.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use fleetflow_oci::{Manifest, Reference};
use fleetflow_registry::{
    ClientOptions, CredentialStore, Credentials, RegistryClient, RegistryError, Secret,
};
use fleetflow_store::BlobStore;
use fleetflow_store::archive::{self, ArchiveError, Compression, ImportOptions, ImportedImage};
use fleetflow_store::cache::{CacheError, RefEntry};
use fleetflow_store::transfer::{self, Event, PlatformChoice, Transfer, TransferError};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::{CompressionArg, ImageArgs, ImageCommand, ImageCommon, PlatformArgs};
use crate::exit::Code;
use crate::messages::Messages;
use crate::printer::{Mode, Printer};

/// A failure with its exit code, message and remedies.
struct Failure {
    code: Code,
    message: String,
    remedies: Vec<String>,
}

impl Failure {
    fn new(code: Code, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            remedies: Vec::new(),
        }
    }
    fn hint(mut self, h: impl Into<String>) -> Failure {
        self.remedies.push(h.into());
        self
    }
}

impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Failure {
        let code = match &e {
            RegistryError::Unauthorized { .. } | RegistryError::Denied { .. } => Code::Auth,
            RegistryError::NotFound { .. } => Code::NotFound,
            RegistryError::DigestMismatch { .. } => Code::BadInput,
            RegistryError::Local { .. } => Code::Other,
            _ => Code::Push,
        };
        let mut f = Failure::new(code, e.to_string());
        match &e {
            RegistryError::Unauthorized { registry, .. } => {
                f = f
                    .hint(format!(
                        "run `docker login {registry}`, or pass -u USER --password-stdin"
                    ))
                    .hint("in CI, set DOCKER_USERNAME and DOCKER_PASSWORD");
            }
            RegistryError::Unreachable { .. } => {
                f = f.hint("check the registry address and that it is running; transient failures are retried --retry-attempts times");
            }
            _ => {}
        }
        f
    }
}

impl From<CacheError> for Failure {
    fn from(e: CacheError) -> Failure {
        let code = match &e {
            CacheError::Missing(_) => Code::NotFound,
            _ => Code::Other,
        };
        Failure::new(code, e.to_string())
    }
}

impl From<TransferError> for Failure {
    fn from(e: TransferError) -> Failure {
        match e {
            TransferError::Registry(e) => e.into(),
            TransferError::Cache(e) => e.into(),
        }
    }
}

impl From<ArchiveError> for Failure {
    fn from(e: ArchiveError) -> Failure {
        match e {
            ArchiveError::Cache(c) => c.into(),
            ArchiveError::Io { path, source } if source.kind() == std::io::ErrorKind::NotFound => {
                Failure::new(Code::NotFound, format!("{}: no such file", path.display()))
            }
            other => Failure::new(Code::BadInput, other.to_string())
                .hint("nothing was pushed and the cache holds no part of it"),
        }
    }
}

fn parse_ref(s: &str) -> Result<Reference, Failure> {
    let r = Reference::parse(s).map_err(|e| Failure::new(Code::Config, e.to_string()))?;
    if let Some(d) = &r.digest {
        fleetflow_oci::Digest::parse(d).map_err(|e| Failure::new(Code::Config, e.to_string()))?;
    }
    Ok(r)
}

/// Progress output for one command.
struct Reporter {
    mode: Mode,
    bar: Option<ProgressBar>,
    bytes: Arc<AtomicU64>,
}

impl Reporter {
    fn new(mode: Mode) -> Arc<Reporter> {
        let bar = (mode == Mode::Tty).then(|| {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{spinner} {msg} {bytes} ({binary_bytes_per_sec})")
                    .expect("template"),
            );
            b.enable_steady_tick(std::time::Duration::from_millis(120));
            b
        });
        Arc::new(Reporter {
            mode,
            bar,
            bytes: Arc::new(AtomicU64::new(0)),
        })
    }

    fn line(&self, text: &str) {
        match (&self.bar, self.mode) {
            (Some(b), _) => b.println(text),
            (None, Mode::Plain) => eprintln!("{text}"),
            _ => {}
        }
    }

    fn status(&self, text: &str) {
        if let Some(b) = &self.bar {
            b.set_message(text.to_string());
        } else if self.mode == Mode::Plain {
            eprintln!("{text}");
        }
    }

    fn json(&self, value: serde_json::Value) {
        if self.mode == Mode::Json {
            println!("{value}");
        }
    }

    fn transfer(self: &Arc<Self>, common: &ImageCommon) -> Transfer {
        let me = Arc::clone(self);
        let counter = Arc::clone(&self.bytes);
        let bar = self.bar.clone();
        Transfer {
            jobs: usize::from(common.jobs),
            force_upload: common.force_upload,
            observer: Arc::new(move |e| me.event(&e)),
            bytes: Arc::new(move |n| {
                counter.fetch_add(n, Ordering::Relaxed);
                if let Some(b) = &bar {
                    b.inc(n);
                }
            }),
        }
    }

    fn event(&self, e: &Event) {
        match e {
            Event::Blob {
                digest,
                size,
                action,
            } => {
                self.line(&format!(
                    "  {} {:>10}  {}",
                    digest.short(),
                    human(*size),
                    action.as_str()
                ));
                self.json(json!({"event": "blob", "digest": digest, "size": size, "action": action.as_str()}));
            }
            Event::Manifest { digest, reference } => {
                self.line(&format!("  manifest {} → {reference}", digest.short()));
                self.json(json!({"event": "manifest", "digest": digest, "reference": reference}));
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

fn human(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

struct Context {
    common: ImageCommon,
    password: Option<Secret>,
    store: Option<CredentialStore>,
}

impl Context {
    fn options(&self) -> ClientOptions {
        ClientOptions {
            insecure: self.common.insecure,
            certs_dir: self.common.cert_dir.clone(),
            retry_attempts: self.common.retry_attempts,
            chunk_size: self.common.chunk_size,
            verbose: self.common.verbose,
            ..ClientOptions::default()
        }
    }

    /// Credentials for `registry`: -u/--password-stdin when `explicit`, else Docker's.
    fn credentials(
        &self,
        registry: &str,
        explicit: bool,
    ) -> Result<(Option<Credentials>, String), Failure> {
        if explicit && let (Some(u), Some(p)) = (&self.common.username, &self.password) {
            return Ok((
                Some(Credentials::Basic {
                    username: u.clone(),
                    password: p.clone(),
                }),
                "--username".into(),
            ));
        }
        let Some(store) = &self.store else {
            return Ok((None, "anonymous".into()));
        };
        match store.get(registry) {
            Ok(Some((c, src))) => Ok((Some(c), src.to_string())),
            Ok(None) => Ok((None, "anonymous".into())),
            Err(e) => Err(Failure::new(Code::Auth, e.to_string())),
        }
    }

    async fn connect(
        &self,
        reference: &Reference,
        explicit: bool,
    ) -> Result<RegistryClient, Failure> {
        let (creds, _) = self.credentials(reference.registry(), explicit)?;
        Ok(RegistryClient::connect(reference.registry(), creds, self.options()).await?)
    }

    fn open_store(&self) -> Result<Arc<BlobStore>, Failure> {
        let dir = self
            .common
            .cache_dir
            .clone()
            .unwrap_or_else(BlobStore::default_dir);
        Ok(Arc::new(BlobStore::open(dir)?))
    }

    fn import_options(&self) -> ImportOptions {
        ImportOptions {
            compression: match self.common.compression {
                CompressionArg::Gzip => Compression::Gzip,
                CompressionArg::Zstd => Compression::Zstd,
                CompressionArg::None => Compression::None,
            },
            ..ImportOptions::default()
        }
    }
}

fn platform_choice(args: &PlatformArgs) -> Result<PlatformChoice, Failure> {
    if args.all_platforms {
        return Ok(PlatformChoice::All);
    }
    match args.platform.as_deref() {
        None => Ok(PlatformChoice::Host),
        Some(p) => fleetflow_oci::Platform::parse(p)
            .map(PlatformChoice::One)
            .ok_or_else(|| {
                Failure::new(
                    Code::Config,
                    format!("invalid platform `{p}`: expected os/arch[/variant], e.g. linux/arm64"),
                )
            }),
    }
}

/// Run `flow image ...`.
pub async fn run(args: ImageArgs, messages: &Messages) -> Code {
    let mode = Mode::choose(args.common.progress, args.common.quiet);
    let reporter = Reporter::new(mode);
    let result = run_inner(args, &reporter).await;
    reporter.finish();
    match result {
        Ok(()) => Code::Success,
        Err(f) => {
            let remedies: Vec<&str> = f.remedies.iter().map(String::as_str).collect();
            if mode == Mode::Json {
                println!(
                    "{}",
                    json!({"event": "error", "message": f.message, "exit_code": f.code as u8})
                );
            }
            let mut failure = crate::failure::Failure::new(f.code, f.message);
            for r in remedies {
                failure = failure.hint(r);
            }
            Printer::new(mode, *messages).failure(&failure);
            f.code
        }
    }
}

async fn run_inner(args: ImageArgs, rep: &Arc<Reporter>) -> Result<(), Failure> {
    let common = args.common;
    let mut password = common.password.clone().map(Secret::new);
    if password.is_some() {
        eprintln!(
            "warning: --password on the command line is visible to other users; use --password-stdin"
        );
    }
    if common.password_stdin {
        if common.username.is_none() {
            return Err(Failure::new(
                Code::Config,
                "--password-stdin needs --username",
            ));
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            Failure::new(
                Code::Config,
                format!("reading the password from standard input: {e}"),
            )
        })?;
        password = Some(Secret::new(s.trim_end_matches(['\n', '\r']).to_string()));
    }
    if common.username.is_some() && password.is_none() {
        return Err(Failure::new(
            Code::Config,
            "--username needs --password-stdin (or --password)",
        ));
    }
    let needs_creds = matches!(
        args.command,
        ImageCommand::Pull { .. } | ImageCommand::Push { .. } | ImageCommand::Copy { .. }
    );
    let store = if needs_creds {
        Some(CredentialStore::from_env().map_err(|e| Failure::new(Code::Auth, e.to_string()))?)
    } else {
        None
    };
    let ctx = Context {
        common,
        password,
        store,
    };
    match args.command {
        ImageCommand::Pull {
            reference,
            platforms,
        } => pull(&ctx, rep, &reference, &platforms).await,
        ImageCommand::Import { archive, tag } => import(&ctx, rep, &archive, tag.as_deref()).await,
        ImageCommand::Push {
            source,
            destination,
        } => push(&ctx, rep, &source, &destination).await,
        ImageCommand::Copy {
            source,
            destination,
            platforms,
        } => copy(&ctx, rep, &source, &destination, &platforms).await,
        ImageCommand::Ls { json } => ls(&ctx, json),
        ImageCommand::Rm { references } => rm(&ctx, rep, &references),
        ImageCommand::Clean { all } => clean(&ctx, rep, all),
    }
}

fn done_line(
    rep: &Reporter,
    verb: &str,
    name: &str,
    digest: &fleetflow_oci::Digest,
    started: Instant,
) {
    let secs = started.elapsed().as_secs_f64();
    let bytes = rep.bytes.load(Ordering::Relaxed);
    rep.json(json!({"event": "done", "operation": verb, "ref": name, "digest": digest, "bytes": bytes, "seconds": secs}));
    if rep.mode != Mode::Json {
        if rep.mode != Mode::Quiet {
            eprintln!("✓ {verb} {name} ({}, {secs:.1}s)", human(bytes));
        }
        println!("{}@{digest}", name.split('@').next().unwrap_or(name));
    }
}

fn dry_run(
    rep: &Reporter,
    ctx: &Context,
    what: String,
    registries: &[(&Reference, bool)],
) -> Result<(), Failure> {
    let mut plan = vec![what];
    for (r, explicit) in registries {
        let (_, source) = ctx.credentials(r.registry(), *explicit)?;
        plan.push(format!("  {}: credentials from {source}", r.registry()));
    }
    if rep.mode == Mode::Json {
        rep.json(json!({"event": "plan", "plan": plan}));
    } else {
        for l in plan {
            println!("{l}");
        }
    }
    Ok(())
}

async fn pull(
    ctx: &Context,
    rep: &Arc<Reporter>,
    reference: &str,
    platforms: &PlatformArgs,
) -> Result<(), Failure> {
    let r = parse_ref(reference)?;
    let choice = platform_choice(platforms)?;
    if ctx.common.dry_run {
        return dry_run(
            rep,
            ctx,
            format!("would pull {} into the cache", r.canonical()),
            &[(&r, true)],
        );
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    rep.status(&format!("pulling {}", r.canonical()));
    let client = ctx.connect(&r, true).await?;
    let t = rep.transfer(&ctx.common);
    let entry = transfer::pull(&client, &store, &r.api_path(), r.target(), &choice, &t).await?;
    let digest = entry.digest.clone();
    store.set_ref(&r.canonical(), entry)?;
    done_line(rep, "pulled", &r.canonical(), &digest, started);
    Ok(())
}

fn record_imported(
    store: &BlobStore,
    images: &[ImportedImage],
    tag: Option<&Reference>,
) -> Result<Vec<(String, RefEntry)>, Failure> {
    let mut out = Vec::new();
    for img in images {
        let entry = RefEntry {
            digest: img.digest.clone(),
            media_type: img.media_type.clone(),
            size: img.size,
            source: "import".into(),
            updated: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        let mut names: Vec<String> = img
            .names
            .iter()
            .filter_map(|n| Reference::parse(n).ok().map(|r| r.canonical()))
            .collect();
        if let Some(t) = tag {
            names = vec![t.canonical()];
        }
        if names.is_empty() {
            names.push(img.digest.to_string());
        }
        for n in names {
            store.set_ref(&n, entry.clone())?;
            out.push((n, entry.clone()));
        }
    }
    Ok(out)
}

async fn import(
    ctx: &Context,
    rep: &Arc<Reporter>,
    path: &Path,
    tag: Option<&str>,
) -> Result<(), Failure> {
    let tag = tag.map(parse_ref).transpose()?;
    if ctx.common.dry_run {
        return dry_run(
            rep,
            ctx,
            format!("would import {} into the cache", path.display()),
            &[],
        );
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    rep.status(&format!("importing {}", path.display()));
    let opts = ctx.import_options();
    let (s2, p2, r2) = (Arc::clone(&store), path.to_path_buf(), Arc::clone(rep));
    let images = tokio::task::spawn_blocking(move || {
        archive::import(&p2, &s2, &opts, &mut |d| {
            r2.event(&Event::Blob {
                digest: d.digest.clone(),
                size: d.size,
                action: transfer::BlobAction::Cached,
            })
        })
    })
    .await
    .expect("import task")?;
    if tag.is_some() && images.len() > 1 {
        return Err(Failure::new(
            Code::Config,
            format!(
                "{} holds {} images; --tag names one",
                path.display(),
                images.len()
            ),
        ));
    }
    for (name, entry) in record_imported(&store, &images, tag.as_ref())? {
        done_line(rep, "imported", &name, &entry.digest, started);
    }
    Ok(())
}

async fn push(
    ctx: &Context,
    rep: &Arc<Reporter>,
    source: &str,
    destination: &str,
) -> Result<(), Failure> {
    let dest = parse_ref(destination)?;
    if dest.digest.is_some() {
        return Err(Failure::new(
            Code::Config,
            format!("`{destination}`: push to a tag, not a digest"),
        ));
    }
    let path = Path::new(source);
    let from_archive = path.exists();
    if ctx.common.dry_run {
        let what = if from_archive {
            format!(
                "would push archive {} to {}",
                path.display(),
                dest.canonical()
            )
        } else {
            format!(
                "would push cached {} to {}",
                parse_ref(source)?.canonical(),
                dest.canonical()
            )
        };
        return dry_run(rep, ctx, what, &[(&dest, true)]);
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    // A cached source is resolved before any registry is contacted.
    let cached = if from_archive {
        None
    } else {
        let key = parse_ref(source)?.canonical();
        match store.get_ref(&key) {
            Ok(e) => Some(e),
            Err(CacheError::Missing(_)) => {
                return Err(Failure::new(
                    Code::NotFound,
                    format!("{source}: no such file, and {key} is not in the cache"),
                )
                .hint(format!("pull it first: flow image pull {source}"))
                .hint("`flow image ls` lists the cached images"));
            }
            Err(e) => return Err(e.into()),
        }
    };
    rep.status(&format!("pushing {source} to {}", dest.canonical()));
    let client = Arc::new(ctx.connect(&dest, true).await?);
    let repo = dest.api_path();
    let t = rep.transfer(&ctx.common);
    let mut done = HashSet::new();
    let root = if from_archive {
        // Import on blocking threads; upload each blob as soon as it is in the cache.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let opts = ctx.import_options();
        let (s2, p2) = (Arc::clone(&store), path.to_path_buf());
        let importer = tokio::task::spawn_blocking(move || {
            archive::import(&p2, &s2, &opts, &mut |d| {
                let _ = tx.send(d.clone());
            })
        });
        let mut uploads = tokio::task::JoinSet::new();
        let sem = Arc::new(tokio::sync::Semaphore::new(usize::from(ctx.common.jobs)));
        while let Some(desc) = rx.recv().await {
            if !done.insert(desc.digest.clone()) {
                continue;
            }
            let (c, s, t, repo, sem) = (
                Arc::clone(&client),
                Arc::clone(&store),
                t.clone(),
                repo.clone(),
                Arc::clone(&sem),
            );
            uploads.spawn(async move {
                let _permit = sem.acquire_owned().await.expect("semaphore");
                transfer::push_blob(&c, &s, &repo, &desc, None, &t).await
            });
        }
        let imported = importer.await.expect("import task");
        // Wait for the uploads in any case; an import error wins over upload errors.
        let mut upload_error = None;
        while let Some(r) = uploads.join_next().await {
            if let Err(e) = r.expect("upload task") {
                upload_error.get_or_insert(e);
            }
        }
        let images = imported?;
        if let Some(e) = upload_error {
            return Err(e.into());
        }
        let image = match images.as_slice() {
            [one] => one.clone(),
            many => {
                let names: Vec<String> = many.iter().flat_map(|i| i.names.clone()).collect();
                return Err(Failure::new(
                    Code::Config,
                    format!(
                        "{} holds {} images ({}); import it, then push one by name",
                        path.display(),
                        many.len(),
                        names.join(", ")
                    ),
                ));
            }
        };
        RefEntry {
            digest: image.digest,
            media_type: image.media_type,
            size: image.size,
            source: "import".into(),
            updated: 0,
        }
    } else {
        cached.expect("resolved above")
    };
    let digest = transfer::push(
        &client,
        &store,
        &repo,
        dest.tag.as_deref().or(Some("latest")),
        &root,
        None,
        &done,
        &t,
    )
    .await?;
    done_line(rep, "pushed", &dest.canonical(), &digest, started);
    Ok(())
}

async fn copy(
    ctx: &Context,
    rep: &Arc<Reporter>,
    source: &str,
    destination: &str,
    platforms: &PlatformArgs,
) -> Result<(), Failure> {
    let src = parse_ref(source)?;
    let dest = parse_ref(destination)?;
    if dest.digest.is_some() {
        return Err(Failure::new(
            Code::Config,
            format!("`{destination}`: copy to a tag, not a digest"),
        ));
    }
    let choice = platform_choice(platforms)?;
    if ctx.common.dry_run {
        return dry_run(
            rep,
            ctx,
            format!("would copy {} to {}", src.canonical(), dest.canonical()),
            &[(&src, false), (&dest, true)],
        );
    }
    let started = Instant::now();
    let store = ctx.open_store()?;
    rep.status(&format!(
        "copying {} to {}",
        src.canonical(),
        dest.canonical()
    ));
    let src_client = ctx.connect(&src, false).await?;
    let dest_client = ctx.connect(&dest, true).await?;
    let t = rep.transfer(&ctx.common);
    let same_registry = src.registry() == dest.registry();
    let src_repo = src.api_path();
    let dest_repo = dest.api_path();
    // Blobs mounted here are not asked about again by the push below.
    let mut mounted = HashSet::new();
    let entry = if same_registry {
        // Only the manifest is needed locally: blobs are mounted.
        let (bytes, ctype, digest) = src_client.get_manifest(&src_repo, src.target()).await?;
        let parsed = Manifest::parse(&bytes, ctype.as_deref())
            .map_err(|e| Failure::new(Code::Push, format!("{}: {e}", src.canonical())))?;
        let media_type = parsed.media_type().to_string();
        match parsed {
            Manifest::Index(_) => {
                transfer::pull(&src_client, &store, &src_repo, src.target(), &choice, &t).await?
            }
            Manifest::Image(m) => {
                store.put_bytes(&bytes, Some(&digest))?;
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    if !dest_client
                        .push_blob_mount_only(&dest_repo, &d.digest, &src_repo)
                        .await?
                    {
                        // Not mountable: bring the rest through the cache.
                        transfer::pull(&src_client, &store, &src_repo, src.target(), &choice, &t)
                            .await?;
                        break;
                    }
                    mounted.insert(d.digest.clone());
                    (t.observer)(Event::Blob {
                        digest: d.digest.clone(),
                        size: d.size,
                        action: transfer::BlobAction::Mounted,
                    });
                }
                RefEntry {
                    digest,
                    media_type,
                    size: bytes.len() as u64,
                    source: "pull".into(),
                    updated: 0,
                }
            }
        }
    } else {
        transfer::pull(&src_client, &store, &src_repo, src.target(), &choice, &t).await?
    };
    let mount_from = same_registry.then_some(src_repo.as_str());
    let digest = transfer::push(
        &dest_client,
        &store,
        &dest_repo,
        dest.tag.as_deref().or(Some("latest")),
        &entry,
        mount_from,
        &mounted,
        &t,
    )
    .await?;
    done_line(rep, "copied", &dest.canonical(), &digest, started);
    Ok(())
}

fn ls(ctx: &Context, as_json: bool) -> Result<(), Failure> {
    let store = ctx.open_store()?;
    let refs = store.refs()?;
    if as_json {
        let list: Vec<serde_json::Value> = refs
            .iter()
            .map(|(n, e)| json!({"ref": n, "digest": e.digest, "media_type": e.media_type, "size": e.size, "source": e.source, "updated": e.updated}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list).expect("json"));
        return Ok(());
    }
    let width = refs.keys().map(String::len).max().unwrap_or(9).max(9);
    println!("{:width$}  {:19}  SOURCE", "REFERENCE", "DIGEST");
    for (n, e) in &refs {
        println!("{n:width$}  {}  {}", e.digest.short(), e.source);
    }
    Ok(())
}

fn rm(ctx: &Context, rep: &Reporter, references: &[String]) -> Result<(), Failure> {
    let store = ctx.open_store()?;
    let mut missing = Vec::new();
    for r in references {
        let key = match store.refs()?.contains_key(r.as_str()) {
            true => r.clone(),
            false => parse_ref(r)?.canonical(),
        };
        if ctx.common.dry_run {
            println!("would remove {key}");
        } else if store.remove_ref(&key)? {
            rep.json(json!({"event": "removed", "ref": key}));
            if rep.mode != Mode::Json {
                println!("removed {key}");
            }
        } else {
            missing.push(key);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            Code::NotFound,
            format!("not in the cache: {}", missing.join(", ")),
        )
        .hint("`flow image ls` lists the cached images"))
    }
}

fn clean(ctx: &Context, rep: &Reporter, all: bool) -> Result<(), Failure> {
    if ctx.common.dry_run {
        println!(
            "would remove {} blobs",
            if all { "all" } else { "unreferenced" }
        );
        return Ok(());
    }
    let store = ctx.open_store()?;
    let store = Arc::try_unwrap(store).expect("only owner");
    let report = store.clean(all)?;
    rep.json(json!({"event": "cleaned", "blobs": report.blobs, "bytes": report.bytes}));
    if rep.mode != Mode::Json {
        println!(
            "removed {} blobs, freed {}",
            report.blobs,
            human(report.bytes)
        );
    }
    Ok(())
}
