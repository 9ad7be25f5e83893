//! The message catalogue: Japanese when the locale is `ja*` (as the specification
//! writes them), English otherwise. Structural lines of the spec's layout
//! (`Building api...`, `  → Dockerfile: ...`) are the same in both languages.

/// The user's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Japanese.
    Ja,
}

/// All user-facing texts that vary by language.
#[derive(Debug, Clone, Copy)]
pub struct Messages {
    /// The language chosen.
    pub lang: Lang,
}

impl Messages {
    /// From `LC_ALL`, then `LC_MESSAGES`, then `LANG`.
    pub fn from_env() -> Messages {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        let lang = if locale.starts_with("ja") {
            Lang::Ja
        } else {
            Lang::En
        };
        Messages { lang }
    }

    fn pick(&self, en: &'static str, ja: &'static str) -> &'static str {
        match self.lang {
            Lang::En => en,
            Lang::Ja => ja,
        }
    }

    /// `Error` / `エラー`.
    pub fn error_heading(&self) -> &'static str {
        self.pick("Error", "エラー")
    }
    /// `warning`.
    pub fn warning_heading(&self) -> &'static str {
        self.pick("warning", "警告")
    }
    /// Heading of a configuration error.
    pub fn config_invalid(&self) -> &'static str {
        self.pick(
            "the project configuration is invalid",
            "設定ファイルにエラーがあります",
        )
    }
    /// Heading of an invalid tag.
    pub fn invalid_tag(&self) -> &'static str {
        self.pick(
            "the tag contains characters that are not allowed",
            "タグに使用できない文字が含まれています",
        )
    }
    /// Hint for an invalid tag.
    pub fn invalid_tag_hint(&self) -> &'static str {
        self.pick(
            "use 1-128 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`",
            "タグは英数字・`_`・`.`・`-` の 1〜128 文字で、`.` や `-` で始めることはできません",
        )
    }
    /// Hint for a `tags` template that cannot be expanded.
    pub fn tag_template_hint(&self) -> &'static str {
        self.pick(
            "templates take {version} (--version, FLOW_VERSION or a git tag at HEAD), {sha} and {branch}; --tag replaces them",
            "テンプレートで使えるのは {version}（--version・FLOW_VERSION・HEAD の git タグ）、{sha}、{branch} です。--tag を指定するとテンプレートは使われません",
        )
    }
    /// A service whose unchanged image was reused.
    pub fn reused(&self) -> &'static str {
        self.pick("reused", "再利用")
    }
    /// Hint for an invalid tag written in flow.kdl.
    pub fn invalid_tag_in_file_hint(&self) -> &'static str {
        self.pick(
            "if the tag comes from flow.kdl, fix `version`, `image_tag` or the tag in `image`, or pass --tag",
            "flow.kdl のタグの場合は `version`・`image_tag`・`image` のタグを修正するか、--tag を指定してください",
        )
    }
    /// Heading of an invalid image name.
    pub fn invalid_image(&self) -> &'static str {
        self.pick("the image name is invalid", "イメージ名が不正です")
    }
    /// Hint for an invalid image name.
    pub fn invalid_image_hint(&self) -> &'static str {
        self.pick(
            "fix the `image` field in flow.kdl",
            "flow.kdl の `image` フィールドを修正してください",
        )
    }
    /// The engine cannot be reached.
    pub fn engine_unreachable(&self) -> &'static str {
        self.pick(
            "cannot connect to the Docker Engine",
            "Docker Engine に接続できません",
        )
    }
    /// Hint for an unreachable engine.
    pub fn engine_hint(&self) -> &'static str {
        self.pick(
            "start Docker (dockerd), or point DOCKER_HOST at a running engine (unix://..., tcp://...)",
            "Docker (dockerd) を起動するか、DOCKER_HOST に起動中のエンジンを指定してください (unix://..., tcp://...)",
        )
    }
    /// `Target:` / `対象:`.
    pub fn target_label(&self) -> &'static str {
        self.pick("Target", "対象")
    }
    /// `Remedy:` / `解決方法:`.
    pub fn remedy_label(&self) -> &'static str {
        self.pick("How to fix", "解決方法")
    }
    /// Summary word: built.
    pub fn built(&self) -> &'static str {
        self.pick("built", "ビルド完了")
    }
    /// Summary word: failed.
    pub fn failed(&self) -> &'static str {
        self.pick("failed", "失敗")
    }
    /// Summary word: cancelled.
    pub fn cancelled(&self) -> &'static str {
        self.pick("cancelled", "中止")
    }
    /// Summary word: skipped.
    pub fn skipped(&self) -> &'static str {
        self.pick("skipped", "スキップ")
    }
    /// Why a service is skipped.
    pub fn skipped_no_build(&self) -> &'static str {
        self.pick(
            "no build settings and no conventional Dockerfile",
            "ビルド設定も規約の Dockerfile もありません",
        )
    }
    /// Heading before a failed build's log.
    pub fn build_log_of(&self) -> &'static str {
        self.pick("build log of", "ビルドログ:")
    }
    /// Nothing to build.
    pub fn nothing_to_build(&self) -> &'static str {
        self.pick(
            "no service in this stage has anything to build",
            "このステージにビルド対象のサービスがありません",
        )
    }
    /// Final line when builds failed.
    pub fn builds_failed(&self) -> &'static str {
        self.pick("build failed", "ビルドに失敗しました")
    }
    /// Auth failure heading (the specification's text).
    pub fn auth_failed(&self) -> &'static str {
        self.pick(
            "authentication to the registry failed",
            "レジストリへの認証に失敗しました",
        )
    }
    /// Remedy: docker login.
    pub fn auth_hint_login(&self, registry: &str) -> String {
        match self.lang {
            Lang::En => format!("run docker login {registry}"),
            Lang::Ja => format!("docker login {registry} を実行してください"),
        }
    }
    /// Remedy: CI variables.
    pub fn auth_hint_ci(&self) -> &'static str {
        self.pick(
            "in CI, set DOCKER_USERNAME and DOCKER_PASSWORD",
            "CIの場合は DOCKER_USERNAME, DOCKER_PASSWORD を設定してください",
        )
    }
    /// `Detail` label.
    pub fn detail_label(&self) -> &'static str {
        self.pick("Detail", "詳細")
    }
    /// No registry in the image name (the specification's text).
    pub fn no_registry(&self) -> &'static str {
        self.pick(
            "the image name has no registry",
            "イメージ名にレジストリが含まれていません",
        )
    }
    /// Remedy for a missing registry.
    pub fn no_registry_hint(&self) -> &'static str {
        self.pick(
            "write the registry in `image` (e.g. ghcr.io/org/app), set `registry` in flow.kdl, or pass --registry",
            "`image` フィールドにレジストリを含めるか（例: ghcr.io/org/app）、flow.kdl の `registry` か --registry を指定してください",
        )
    }
    /// Push failure heading (the specification's text).
    pub fn push_failed(&self) -> &'static str {
        self.pick(
            "pushing the image failed",
            "イメージのプッシュに失敗しました",
        )
    }
    /// Remedy for a push failure.
    pub fn push_failed_hint(&self) -> &'static str {
        self.pick(
            "check the network and your permissions on the repository",
            "ネットワーク接続とリポジトリへの権限を確認してください",
        )
    }
    /// The registry cannot be reached.
    pub fn registry_unreachable(&self) -> &'static str {
        self.pick("cannot reach the registry", "レジストリに接続できません")
    }
    /// Docker credentials could not be read.
    pub fn credentials_unreadable(&self) -> &'static str {
        self.pick(
            "cannot read Docker credentials",
            "Docker の認証情報を読み込めません",
        )
    }
    /// Summary word: pushed.
    pub fn pushed(&self) -> &'static str {
        self.pick("pushed", "プッシュ完了")
    }
    /// `built in 1.2s`.
    pub fn built_in(&self, secs: &str) -> String {
        match self.lang {
            Lang::En => format!("built in {secs}"),
            Lang::Ja => format!("ビルド完了 ({secs})"),
        }
    }
    /// `waiting to push`.
    pub fn waiting_to_push(&self) -> &'static str {
        self.pick("waiting to push", "プッシュ待ち")
    }
    /// `pushed in 1.2s`.
    pub fn pushed_in(&self, secs: &str) -> String {
        match self.lang {
            Lang::En => format!("pushed in {secs}"),
            Lang::Ja => format!("プッシュ完了 ({secs})"),
        }
    }
    /// `pushing REF`.
    pub fn pushing(&self, reference: &str) -> String {
        match self.lang {
            Lang::En => format!("pushing {reference}"),
            Lang::Ja => format!("{reference} をプッシュ中"),
        }
    }
    /// Layer counts of a push.
    pub fn layers(&self, total: usize, pushed: usize, existed: usize) -> String {
        let done = pushed + existed;
        match self.lang {
            Lang::En => {
                format!("layers {done}/{total} ({pushed} pushed, {existed} already existed)")
            }
            Lang::Ja => format!("レイヤー {done}/{total} (プッシュ {pushed}, 既存 {existed})"),
        }
    }
    /// `starting`.
    pub fn starting(&self) -> &'static str {
        self.pick("starting", "開始")
    }

    // ---- flow image ----

    /// English, whatever the locale (machine output: JSON events).
    pub fn english() -> Messages {
        Messages { lang: Lang::En }
    }
    /// Status: `pulling REF`.
    pub fn image_pulling(&self, reference: &str) -> String {
        match self.lang {
            Lang::En => format!("pulling {reference}"),
            Lang::Ja => format!("{reference} をプル中"),
        }
    }
    /// Status: `importing PATH`.
    pub fn image_importing(&self, path: &str) -> String {
        match self.lang {
            Lang::En => format!("importing {path}"),
            Lang::Ja => format!("{path} をインポート中"),
        }
    }
    /// Status: `pushing SOURCE to DEST`.
    pub fn image_pushing(&self, source: &str, dest: &str) -> String {
        match self.lang {
            Lang::En => format!("pushing {source} to {dest}"),
            Lang::Ja => format!("{source} を {dest} にプッシュ中"),
        }
    }
    /// Status: `copying SOURCE to DEST`.
    pub fn image_copying(&self, source: &str, dest: &str) -> String {
        match self.lang {
            Lang::En => format!("copying {source} to {dest}"),
            Lang::Ja => format!("{source} を {dest} にコピー中"),
        }
    }
    /// What happened to a blob (`exists`, `mounted`, `pushed`, `downloaded`, `cached`).
    pub fn image_blob_action(&self, action: &'static str) -> &'static str {
        match (self.lang, action) {
            (Lang::Ja, "exists") => "既存",
            (Lang::Ja, "mounted") => "マウント",
            (Lang::Ja, "pushed") => "プッシュ",
            (Lang::Ja, "downloaded") => "ダウンロード",
            (Lang::Ja, "cached") => "キャッシュ",
            _ => action,
        }
    }
    /// `  manifest SHORT → REFERENCE`.
    pub fn image_manifest_written(&self, digest: &str, reference: &str) -> String {
        match self.lang {
            Lang::En => format!("  manifest {digest} → {reference}"),
            Lang::Ja => format!("  マニフェスト {digest} → {reference}"),
        }
    }
    /// `✓ pushed NAME (SIZE, 1.2s)`; `operation` is `pulled`, `imported`, `pushed` or
    /// `copied`.
    pub fn image_done(&self, operation: &str, name: &str, size: &str, secs: &str) -> String {
        let verb = match (self.lang, operation) {
            (Lang::En, _) => return format!("✓ {operation} {name} ({size}, {secs}s)"),
            (Lang::Ja, "pulled") => "プル",
            (Lang::Ja, "imported") => "インポート",
            (Lang::Ja, "pushed") => "プッシュ",
            (Lang::Ja, "copied") => "コピー",
            (Lang::Ja, other) => other,
        };
        format!("✓ {name} を{verb}しました ({size}, {secs}s)")
    }
    /// Dry run: `would pull REF into the cache`.
    pub fn image_would_pull(&self, reference: &str) -> String {
        match self.lang {
            Lang::En => format!("would pull {reference} into the cache"),
            Lang::Ja => format!("{reference} をキャッシュにプルします"),
        }
    }
    /// Dry run: `would import PATH into the cache`.
    pub fn image_would_import(&self, path: &str) -> String {
        match self.lang {
            Lang::En => format!("would import {path} into the cache"),
            Lang::Ja => format!("{path} をキャッシュにインポートします"),
        }
    }
    /// Dry run: `would push archive PATH to DEST`.
    pub fn image_would_push_archive(&self, path: &str, dest: &str) -> String {
        match self.lang {
            Lang::En => format!("would push archive {path} to {dest}"),
            Lang::Ja => format!("アーカイブ {path} を {dest} にプッシュします"),
        }
    }
    /// Dry run: `would push cached REF to DEST`.
    pub fn image_would_push_cached(&self, source: &str, dest: &str) -> String {
        match self.lang {
            Lang::En => format!("would push cached {source} to {dest}"),
            Lang::Ja => format!("キャッシュの {source} を {dest} にプッシュします"),
        }
    }
    /// Dry run: `would copy SOURCE to DEST`.
    pub fn image_would_copy(&self, source: &str, dest: &str) -> String {
        match self.lang {
            Lang::En => format!("would copy {source} to {dest}"),
            Lang::Ja => format!("{source} を {dest} にコピーします"),
        }
    }
    /// Dry run: `  REGISTRY: credentials from SOURCE` (`None`: anonymous).
    pub fn image_credentials_from(&self, registry: &str, source: Option<&str>) -> String {
        match (self.lang, source) {
            (Lang::En, s) => format!(
                "  {registry}: credentials from {}",
                s.unwrap_or("anonymous")
            ),
            (Lang::Ja, Some(s)) => format!("  {registry}: 認証情報は {s} から"),
            (Lang::Ja, None) => format!("  {registry}: 認証情報なし (匿名)"),
        }
    }
    /// Dry run: `would remove REF`.
    pub fn image_would_remove(&self, reference: &str) -> String {
        match self.lang {
            Lang::En => format!("would remove {reference}"),
            Lang::Ja => format!("{reference} を削除します"),
        }
    }
    /// `removed REF`.
    pub fn image_removed(&self, reference: &str) -> String {
        match self.lang {
            Lang::En => format!("removed {reference}"),
            Lang::Ja => format!("{reference} を削除しました"),
        }
    }
    /// Dry run of `clean`.
    pub fn image_would_clean(&self, all: bool) -> String {
        match (self.lang, all) {
            (Lang::En, true) => "would remove all blobs".into(),
            (Lang::En, false) => "would remove unreferenced blobs".into(),
            (Lang::Ja, true) => "すべての blob を削除します".into(),
            (Lang::Ja, false) => "参照されていない blob を削除します".into(),
        }
    }
    /// `removed N blobs, freed SIZE`.
    pub fn image_cleaned(&self, blobs: u64, freed: &str) -> String {
        match self.lang {
            Lang::En => format!("removed {blobs} blobs, freed {freed}"),
            Lang::Ja => format!("{blobs} 個の blob を削除し、{freed} を解放しました"),
        }
    }
    /// Warning for `-p/--password`.
    pub fn image_password_warning(&self) -> &'static str {
        self.pick(
            "--password on the command line is visible to other users; use --password-stdin",
            "コマンドラインの --password は他のユーザーから見えます。--password-stdin を使ってください",
        )
    }
    /// `--password-stdin` without `--username`.
    pub fn image_password_stdin_needs_username(&self) -> &'static str {
        self.pick(
            "--password-stdin needs --username",
            "--password-stdin には --username が必要です",
        )
    }
    /// Standard input could not be read.
    pub fn image_password_unreadable(&self, error: &str) -> String {
        match self.lang {
            Lang::En => format!("reading the password from standard input: {error}"),
            Lang::Ja => format!("標準入力からパスワードを読み込めません: {error}"),
        }
    }
    /// `--username` without a password.
    pub fn image_username_needs_password(&self) -> &'static str {
        self.pick(
            "--username needs --password-stdin (or --password)",
            "--username には --password-stdin (または --password) が必要です",
        )
    }
    /// A `--platform` that does not parse.
    pub fn image_invalid_platform(&self, platform: &str) -> String {
        match self.lang {
            Lang::En => format!(
                "invalid platform `{platform}`: expected os/arch[/variant], e.g. linux/arm64"
            ),
            Lang::Ja => format!(
                "プラットフォーム `{platform}` が不正です: os/arch[/variant] の形式で指定してください (例: linux/arm64)"
            ),
        }
    }
    /// A destination given by digest; `operation` is `push` or `copy`.
    pub fn image_dest_is_digest(&self, operation: &str, dest: &str) -> String {
        match (self.lang, operation) {
            (Lang::En, op) => format!("`{dest}`: {op} to a tag, not a digest"),
            (Lang::Ja, "copy") => {
                format!("`{dest}`: コピー先にはダイジェストではなくタグを指定してください")
            }
            (Lang::Ja, _) => {
                format!("`{dest}`: プッシュ先にはダイジェストではなくタグを指定してください")
            }
        }
    }
    /// A push source that is neither a file nor cached.
    pub fn image_source_missing(&self, source: &str, key: &str) -> String {
        match self.lang {
            Lang::En => format!("{source}: no such file, and {key} is not in the cache"),
            Lang::Ja => {
                format!("{source}: そのようなファイルはなく、{key} もキャッシュにありません")
            }
        }
    }
    /// Hint: pull first.
    pub fn image_pull_first_hint(&self, source: &str) -> String {
        match self.lang {
            Lang::En => format!("pull it first: flow image pull {source}"),
            Lang::Ja => format!("先にプルしてください: flow image pull {source}"),
        }
    }
    /// Hint: `flow image ls`.
    pub fn image_ls_hint(&self) -> &'static str {
        self.pick(
            "`flow image ls` lists the cached images",
            "`flow image ls` でキャッシュ内のイメージを一覧できます",
        )
    }
    /// `--tag` for an archive of several images.
    pub fn image_tag_names_one(&self, path: &str, count: usize) -> String {
        match self.lang {
            Lang::En => format!("{path} holds {count} images; --tag names one"),
            Lang::Ja => format!(
                "{path} には {count} 個のイメージがあります。--tag で名前を付けられるのは 1 個だけです"
            ),
        }
    }
    /// Push of an archive of several images.
    pub fn image_push_one_by_name(&self, path: &str, count: usize, names: &str) -> String {
        match self.lang {
            Lang::En => {
                format!("{path} holds {count} images ({names}); import it, then push one by name")
            }
            Lang::Ja => format!(
                "{path} には {count} 個のイメージ ({names}) があります。インポートしてから、名前を指定して 1 個ずつプッシュしてください"
            ),
        }
    }
    /// `rm` of names that are not cached.
    pub fn image_not_in_cache(&self, names: &str) -> String {
        match self.lang {
            Lang::En => format!("not in the cache: {names}"),
            Lang::Ja => format!("キャッシュにありません: {names}"),
        }
    }
    /// An archive that does not exist.
    pub fn image_no_such_file(&self, path: &str) -> String {
        match self.lang {
            Lang::En => format!("{path}: no such file"),
            Lang::Ja => format!("{path}: そのようなファイルはありません"),
        }
    }
    /// Hint after an invalid archive.
    pub fn image_archive_rejected_hint(&self) -> &'static str {
        self.pick(
            "nothing was pushed and the cache holds no part of it",
            "何もプッシュされておらず、キャッシュにもその一部は残っていません",
        )
    }
    /// Hint after an authentication failure.
    pub fn image_login_hint(&self, registry: &str) -> String {
        match self.lang {
            Lang::En => {
                format!("run `docker login {registry}`, or pass -u USER --password-stdin")
            }
            Lang::Ja => format!(
                "`docker login {registry}` を実行するか、-u USER --password-stdin を指定してください"
            ),
        }
    }
    /// Hint for an unreachable registry.
    pub fn image_unreachable_hint(&self) -> &'static str {
        self.pick(
            "check the registry address and that it is running; transient failures are retried --retry-attempts times",
            "レジストリのアドレスと、レジストリが起動していることを確認してください。一時的な失敗は --retry-attempts 回まで再試行されます",
        )
    }
}
