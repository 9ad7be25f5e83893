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
}
