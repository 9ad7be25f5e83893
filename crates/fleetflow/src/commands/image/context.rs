//! What every `flow image` operation shares: the common options, credentials (from
//! `-u`/`--password-stdin` or Docker's), client options, the cache, the transfer
//! settings and the printer.

use std::io::Read as _;
use std::sync::Arc;

use fleetflow_oci::{Platform, Reference};
use fleetflow_registry::client::Tracer;
use fleetflow_registry::{ClientOptions, CredentialStore, Credentials, RegistryClient, Secret};
use fleetflow_store::BlobStore;
use fleetflow_store::archive::{Compression, ImportOptions};
use fleetflow_store::transfer::{PlatformChoice, Transfer};

use super::failure::ImageFailure;
use crate::cli::{CompressionArg, ImageCommon, PlatformArgs};
use crate::exit::Code;
use crate::messages::Messages;
use crate::printer::Printer;

/// Settings and services of one command.
pub(super) struct Context {
    pub(super) common: ImageCommon,
    pub(super) printer: Arc<Printer>,
    password: Option<Secret>,
    store: Option<CredentialStore>,
}

impl Context {
    /// Read the password (warning about `--password`), and Docker's credential store
    /// when the operation talks to registries (`registries`).
    pub(super) fn new(
        common: ImageCommon,
        printer: Arc<Printer>,
        registries: bool,
    ) -> Result<Context, ImageFailure> {
        let mut password = common.password.clone().map(Secret::new);
        if password.is_some() {
            printer.warning(printer.messages().image_password_warning());
        }
        if common.password_stdin {
            if common.username.is_none() {
                return Err(ImageFailure::new(Code::Config, |m| {
                    m.image_password_stdin_needs_username().into()
                }));
            }
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                let e = e.to_string();
                ImageFailure::new(Code::Config, move |m| m.image_password_unreadable(&e))
            })?;
            password = Some(Secret::new(s.trim_end_matches(['\n', '\r']).to_string()));
        }
        if common.username.is_some() && password.is_none() {
            return Err(ImageFailure::new(Code::Config, |m| {
                m.image_username_needs_password().into()
            }));
        }
        let store = match registries {
            true => Some(
                CredentialStore::from_env()
                    .map_err(|e| ImageFailure::text(Code::Auth, e.to_string()))?,
            ),
            false => None,
        };
        Ok(Context {
            common,
            printer,
            password,
            store,
        })
    }

    /// The user's texts.
    pub(super) fn messages(&self) -> &Messages {
        self.printer.messages()
    }

    fn options(&self) -> ClientOptions {
        ClientOptions {
            insecure: self.common.insecure,
            certs_dir: self.common.cert_dir.clone(),
            retry_attempts: self.common.retry_attempts,
            chunk_size: self.common.chunk_size,
            trace: self.common.verbose.then(|| {
                let printer = Arc::clone(&self.printer);
                Tracer(Arc::new(move |line: &str| printer.stderr(line)))
            }),
            ..ClientOptions::default()
        }
    }

    /// Credentials for `registry` (-u/--password-stdin when `explicit`, else Docker's)
    /// and where they come from (`None`: anonymous).
    fn credentials(
        &self,
        registry: &str,
        explicit: bool,
    ) -> Result<(Option<Credentials>, Option<String>), ImageFailure> {
        if explicit && let (Some(u), Some(p)) = (&self.common.username, &self.password) {
            let creds = Credentials::Basic {
                username: u.clone(),
                password: p.clone(),
            };
            return Ok((Some(creds), Some("--username".into())));
        }
        let Some(store) = &self.store else {
            return Ok((None, None));
        };
        match store.get(registry) {
            Ok(Some((c, src))) => Ok((Some(c), Some(src.to_string()))),
            Ok(None) => Ok((None, None)),
            Err(e) => Err(ImageFailure::text(Code::Auth, e.to_string())),
        }
    }

    /// A client for the registry of `reference`.
    pub(super) async fn connect(
        &self,
        reference: &Reference,
        explicit: bool,
    ) -> Result<RegistryClient, ImageFailure> {
        let (creds, _) = self.credentials(reference.registry(), explicit)?;
        Ok(RegistryClient::connect(reference.registry(), creds, self.options()).await?)
    }

    /// The blob cache.
    pub(super) fn open_store(&self) -> Result<Arc<BlobStore>, ImageFailure> {
        let dir = self.common.cache_dir.clone();
        Ok(Arc::new(BlobStore::open(
            dir.unwrap_or_else(BlobStore::default_dir),
        )?))
    }

    /// How archives are imported.
    pub(super) fn import_options(&self) -> ImportOptions {
        ImportOptions {
            compression: match self.common.compression {
                CompressionArg::Gzip => Compression::Gzip,
                CompressionArg::Zstd => Compression::Zstd,
                CompressionArg::None => Compression::None,
            },
            ..ImportOptions::default()
        }
    }

    /// How blobs move, reporting to the printer.
    pub(super) fn transfer(&self) -> Transfer {
        Transfer {
            jobs: usize::from(self.common.jobs),
            force_upload: self.common.force_upload,
            reporter: Arc::clone(&self.printer) as _,
        }
    }

    /// A dry run: `what` and where each registry's credentials come from (`true`: the
    /// one -u applies to).
    pub(super) fn dry_run(
        &self,
        what: impl Fn(&Messages) -> String,
        registries: &[(&Reference, bool)],
    ) -> Result<(), ImageFailure> {
        let (en, local) = (Messages::english(), *self.messages());
        let (mut english, mut lines) = (vec![what(&en)], vec![what(&local)]);
        for (r, explicit) in registries {
            let (_, source) = self.credentials(r.registry(), *explicit)?;
            english.push(en.image_credentials_from(r.registry(), source.as_deref()));
            lines.push(local.image_credentials_from(r.registry(), source.as_deref()));
        }
        self.printer.image_plan(english, lines);
        Ok(())
    }
}

/// A reference from the command line.
/// A destination of `verb`: a reference with a tag, not a digest.
pub(super) fn parse_destination(s: &str, verb: &'static str) -> Result<Reference, ImageFailure> {
    let dest = parse_ref(s)?;
    if dest.digest.is_some() {
        let d = s.to_string();
        return Err(ImageFailure::new(Code::Config, move |m| {
            m.image_dest_is_digest(verb, &d)
        }));
    }
    Ok(dest)
}

pub(super) fn parse_ref(s: &str) -> Result<Reference, ImageFailure> {
    let r = Reference::parse(s).map_err(|e| ImageFailure::text(Code::Config, e.to_string()))?;
    if let Some(d) = &r.digest {
        fleetflow_oci::Digest::parse(d)
            .map_err(|e| ImageFailure::text(Code::Config, e.to_string()))?;
    }
    Ok(r)
}

/// `--platform` / `--all-platforms`.
pub(super) fn platform_choice(args: &PlatformArgs) -> Result<PlatformChoice, ImageFailure> {
    if args.all_platforms {
        return Ok(PlatformChoice::All);
    }
    match args.platform.clone() {
        None => Ok(PlatformChoice::Host),
        Some(p) => Platform::parse(&p)
            .map(PlatformChoice::One)
            .ok_or_else(|| ImageFailure::new(Code::Config, move |m| m.image_invalid_platform(&p))),
    }
}
