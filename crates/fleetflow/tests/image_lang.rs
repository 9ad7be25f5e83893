//! `flow image` speaks the user's language: Japanese under `LANG=ja_*`, English (as
//! before) otherwise; JSON events and `REF@digest` lines are the same in both.

mod common;

use std::path::Path;
use std::process::Command;

use common::{flow_image, json_lines, run, saved_image};

/// `flow image ARGS` with `lang` as the only locale variable.
fn image(cache: &Path, lang: &str, args: &[&str]) -> Command {
    let mut c = flow_image(cache);
    c.env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", lang)
        .args(args);
    c
}

#[test]
fn failures_plans_and_warnings_in_japanese_and_in_english() {
    let cache = tempfile::tempdir().unwrap();
    let missing = "nosuch.local/app:v1";
    let dest = "127.0.0.1:1/app:v1";
    let key = "nosuch.local/app:v1";

    // A push of a name that is neither a file nor cached: exit 6, with remedies.
    let (code, out, err) = run(image(cache.path(), "ja_JP.UTF-8", &["push", missing, dest]));
    assert_eq!(code, 6, "{out}\n{err}");
    assert!(err.contains("エラー: "), "{err}");
    assert!(
        err.contains(&format!(
            "{missing}: そのようなファイルはなく、{key} もキャッシュにありません"
        )),
        "{err}"
    );
    assert!(err.contains("解決方法:"), "{err}");
    assert!(
        err.contains(&format!("先にプルしてください: flow image pull {missing}")),
        "{err}"
    );
    let (code, _, err) = run(image(cache.path(), "C", &["push", missing, dest]));
    assert_eq!(code, 6, "{err}");
    assert_eq!(
        err,
        format!(
            "Error: {missing}: no such file, and {key} is not in the cache\n\nHow to fix:\n  • pull it first: flow image pull {missing}\n  • `flow image ls` lists the cached images\n"
        )
    );

    // JSON events stay English under ja; stderr is Japanese.
    let (code, out, err) = run(image(
        cache.path(),
        "ja_JP.UTF-8",
        &["push", "--progress", "json", missing, dest],
    ));
    assert_eq!(code, 6, "{err}");
    let events = json_lines(&out);
    assert_eq!(events.len(), 1, "{out}");
    assert_eq!(events[0]["event"], "error");
    assert_eq!(
        events[0]["message"],
        format!("{missing}: no such file, and {key} is not in the cache")
    );
    assert!(err.contains("もキャッシュにありません"), "{err}");

    // rm of a name the cache does not have: exit 6.
    let (code, _, err) = run(image(cache.path(), "ja_JP.UTF-8", &["rm", missing]));
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains(&format!("キャッシュにありません: {key}")),
        "{err}"
    );
    let (code, _, err) = run(image(cache.path(), "C", &["rm", missing]));
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains(&format!("Error: not in the cache: {key}")),
        "{err}"
    );

    // Dry runs print their plan on stdout.
    let (code, out, _) = run(image(
        cache.path(),
        "ja_JP.UTF-8",
        &["pull", "--dry-run", missing],
    ));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("{key} をキャッシュにプルします\n  nosuch.local: 認証情報なし (匿名)\n")
    );
    let (code, out, _) = run(image(cache.path(), "C", &["pull", "--dry-run", missing]));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("would pull {key} into the cache\n  nosuch.local: credentials from anonymous\n")
    );
    let (_, out, _) = run(image(cache.path(), "ja_JP.UTF-8", &["clean", "--dry-run"]));
    assert_eq!(out, "参照されていない blob を削除します\n");
    let (_, out, _) = run(image(cache.path(), "C", &["clean", "--dry-run", "--all"]));
    assert_eq!(out, "would remove all blobs\n");

    // The --password warning.
    let args = ["ls", "-u", "someone", "-p", "secret"];
    let (code, _, err) = run(image(cache.path(), "ja_JP.UTF-8", &args));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.starts_with("警告: コマンドラインの --password"),
        "{err}"
    );
    let (_, _, err) = run(image(cache.path(), "C", &args));
    assert_eq!(
        err,
        "warning: --password on the command line is visible to other users; use --password-stdin\n"
    );
}

#[test]
fn import_progress_and_result_in_japanese_and_in_english() {
    let (name, tar) = saved_image();
    let canonical = format!("docker.io/{name}");
    let tar = tar.to_str().unwrap();
    let mut stdout = Vec::new();
    for lang in ["ja_JP.UTF-8", "C"] {
        let cache = tempfile::tempdir().unwrap();
        let (code, out, err) = run(image(
            cache.path(),
            lang,
            &["import", "--progress", "plain", tar],
        ));
        assert_eq!(code, 0, "{out}\n{err}");
        let lines: Vec<&str> = err.lines().collect();
        if lang == "C" {
            assert_eq!(lines[0], format!("importing {tar}"));
            assert!(lines[1..5].iter().all(|l| l.ends_with("  cached")), "{err}");
            assert!(
                lines[5].starts_with(&format!("✓ imported {canonical} (")),
                "{err}"
            );
        } else {
            assert_eq!(lines[0], format!("{tar} をインポート中"));
            assert!(
                lines[1..5].iter().all(|l| l.ends_with("  キャッシュ")),
                "{err}"
            );
            assert!(
                lines[5].starts_with(&format!("✓ {canonical} をインポートしました (")),
                "{err}"
            );
        }
        assert_eq!(lines.len(), 6, "{err}");
        stdout.push(out);
    }
    // The machine line is the same in both languages.
    assert_eq!(stdout[0], stdout[1]);
    assert!(stdout[0].starts_with(&format!("{canonical}@sha256:")));
}
