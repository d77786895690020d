//! Every subcommand of the `keyroll` binary, run as an operator would, against a running
//! keyroll-local: on its in-memory store and on DynamoDB Local (scripts/test starts it;
//! the DynamoDB walk fails without it). Also: exit codes, an import of 10,000 rows with
//! its progress and summary, and an interrupted import resumed.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const TOKEN: &str = "cli-walk-admin-token-0123456789";

#[path = "../../functions/local/tests/common/process.rs"]
mod process;
use process::{start_binary, Server};

/// keyroll-local, built beside this binary by `cargo nextest run --workspace`.
fn keyroll_local() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_keyroll")).with_file_name("keyroll-local");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p keyroll-local; scripts/test does)",
        path.display()
    );
    path
}

fn start(env: &[(&str, &str)], args: &[&str]) -> Server {
    let mut env = env.to_vec();
    env.extend([
        ("KEYROLL_ADMIN_TOKEN", TOKEN),
        ("KEYROLL_ALLOW_LOOPBACK_WEBHOOKS", "true"),
        ("KEYROLL_PROCESS_INTERVAL_SECONDS", "3600"),
        // The development key, not an identity provider this machine may name.
        ("KEYROLL_JWT_ISSUER", ""),
    ]);
    start_binary(&keyroll_local(), args, &env)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// `keyroll ARGS` against `server` with the admin token.
fn keyroll(server: &Server, args: &[&str]) -> Run {
    keyroll_with(server, TOKEN, args)
}

fn keyroll_with(server: &Server, token: &str, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_keyroll"))
        .args(args)
        .env("KEYROLL_URL", &server.base)
        .env("KEYROLL_ADMIN_TOKEN", token)
        .output()
        .expect("run keyroll");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `args` and expects exit 0.
fn ok(server: &Server, args: &[&str]) -> Run {
    let run = keyroll(server, args);
    assert_eq!(
        run.code, 0,
        "keyroll {args:?}\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// [`ok`] with the arguments written as one line (none of them with a space).
fn ok_line(server: &Server, line: &str) -> Run {
    ok(server, &line.split_whitespace().collect::<Vec<_>>())
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keyroll-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every subcommand, in the order an operator meets them.
fn walk(server: &Server, org: &str) {
    // keys create / list / show / update
    let created = ok_line(
        server,
        &format!("keys create --org {org} --name billing --rate-limit 50 --scope read --json"),
    )
    .json();
    let key = created["key"]["id"].as_str().unwrap().to_owned();
    assert!(created["secret"].as_str().unwrap().starts_with("sk_live_"));
    let human = ok_line(
        server,
        &format!("keys create --org {org} --name second --rate-limit 5"),
    );
    assert!(
        human.stdout.contains("secret (shown once): sk_live_"),
        "{}",
        human.stdout
    );
    let listed = ok(server, &["keys", "list", "--org", org]);
    assert!(
        listed.stdout.starts_with("ID "),
        "a table: {}",
        listed.stdout
    );
    assert!(listed.stdout.contains(&key) && listed.stdout.contains("billing"));
    let listed = ok(server, &["keys", "list", "--org", org, "--json"]).json();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2);
    let limited = ok(
        server,
        &["keys", "list", "--org", org, "--limit", "1", "--json"],
    )
    .json();
    assert_eq!(limited["keys"].as_array().unwrap().len(), 1, "--limit");
    let shown = ok(server, &["keys", "show", &key]);
    assert!(shown.stdout.contains("billing") && shown.stdout.contains("VERSION"));
    let updated = ok(
        server,
        &[
            "keys",
            "update",
            &key,
            "--name",
            "billing-v2",
            "--label",
            "team=payments",
            "--json",
        ],
    )
    .json();
    assert_eq!(updated["key"]["name"], "billing-v2");
    assert_eq!(updated["key"]["metadata"]["team"], "payments");
    let unlabelled = ok(
        server,
        &["keys", "update", &key, "--label", "team=", "--json"],
    )
    .json();
    assert_eq!(
        unlabelled["key"]["metadata"].get("team"),
        None,
        "team= removes it"
    );

    // rotate (now, scheduled, emergency) and rotations list / show / extend / complete / cancel
    let rotated = ok(server, &["rotate", &key, "--grace", "72h", "--json"]).json();
    let rotation = rotated["rotation"]["id"].as_str().unwrap().to_owned();
    assert!(rotated["secret"].as_str().unwrap().starts_with("sk_live_"));
    assert_eq!(rotated["rotation"]["status"], "grace_period");
    let in_progress = ok(server, &["rotations", "list"]);
    assert!(
        in_progress.stdout.contains(&rotation),
        "{}",
        in_progress.stdout
    );
    let of_key = ok(server, &["rotations", "list", "--key", &key, "--json"]).json();
    assert_eq!(of_key["rotations"][0]["id"], rotation.as_str());
    assert!(ok(server, &["rotations", "show", &rotation])
        .stdout
        .contains("grace_period"));
    let extended = ok(
        server,
        &[
            "rotations",
            "extend",
            &rotation,
            "--by",
            "24h",
            "--reason",
            "partner asked",
            "--json",
        ],
    )
    .json();
    assert_ne!(
        extended["rotation"]["graceEndsAt"],
        rotated["rotation"]["graceEndsAt"]
    );
    let completed = ok(server, &["rotations", "complete", &rotation, "--json"]).json();
    assert_eq!(completed["rotation"]["status"], "completed");
    let scheduled = ok(
        server,
        &["rotate", &key, "--at", "2099-01-01T00:00:00Z", "--json"],
    );
    let scheduled = scheduled.json()["rotation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = ok(
        server,
        &[
            "rotations",
            "cancel",
            &scheduled,
            "--reason",
            "not yet",
            "--json",
        ],
    )
    .json();
    assert_eq!(cancelled["rotation"]["status"], "cancelled");
    let emergency = ok(
        server,
        &[
            "rotate",
            &key,
            "--emergency",
            "--reason",
            "leaked in a log",
            "--grace",
            "0s",
        ],
    );
    assert!(emergency
        .stdout
        .contains("new secret (shown once): sk_live_"));

    // compliance, as a table, JSON and CSV
    let report = ok(server, &["compliance", "--org", org]);
    assert!(report.stdout.contains("active keys") && report.stdout.contains(&key));
    let report = ok(server, &["compliance", "--org", org, "--json"]).json();
    assert_eq!(report["activeKeys"], 2);
    let csv = work_dir(org).join("compliance.csv");
    ok(
        server,
        &["compliance", "--org", org, "--csv", csv.to_str().unwrap()],
    );
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("keyId,organizationId,class,prefix,ageDays,status,rotationId"));
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // audit, with its chain checked
    let audit = ok(server, &["audit", &key, "--verify"]);
    assert!(
        audit.stdout.contains("key.created") && audit.stdout.contains("chain valid"),
        "{}",
        audit.stdout
    );
    let audit = ok(server, &["audit", &key, "--json"]).json();
    assert_eq!(audit["chainValid"], true);
    assert!(audit["events"].as_array().unwrap().len() >= 8);

    // import (a few rows here; ten thousand on the in-memory store below)
    let file = work_dir(org).join("legacy.csv");
    std::fs::write(&file, import_csv(org, 25, None)).unwrap();
    let imported = ok(server, &["import", file.to_str().unwrap(), "--json"]).json();
    assert_eq!(imported["imported"], 25, "{imported}");
    let again = ok(server, &["import", file.to_str().unwrap()]);
    assert!(again.stdout.contains("duplicates  25"), "{}", again.stdout);

    // orgs contacts / webhooks
    let contact = ok(
        server,
        &["orgs", "contacts", org, "add", "sec@example.com", "--json"],
    )
    .json();
    let contact = contact["id"].as_str().unwrap().to_owned();
    assert!(ok(server, &["orgs", "contacts", org, "list"])
        .stdout
        .contains("sec@example.com"));
    ok(server, &["orgs", "contacts", org, "remove", &contact]);
    assert!(!ok(server, &["orgs", "contacts", org, "list"])
        .stdout
        .contains("sec@example.com"));
    let added = ok(
        server,
        &[
            "orgs",
            "webhooks",
            org,
            "add",
            "http://127.0.0.1:9/hooks",
            "--type",
            "rotation.completed",
        ],
    );
    assert!(
        added.stdout.contains("signing secret (shown once): whsec_"),
        "{}",
        added.stdout
    );
    let hooks = ok(server, &["orgs", "webhooks", org, "list", "--json"]).json();
    let hook = hooks["webhooks"][0]["id"].as_str().unwrap().to_owned();
    assert!(
        ok(server, &["orgs", "webhooks", org, "rotate-secret", &hook])
            .stdout
            .contains("whsec_")
    );
    ok(server, &["orgs", "webhooks", org, "remove", &hook]);

    // keys revoke, last
    let revoked = ok(
        server,
        &[
            "keys",
            "revoke",
            &key,
            "--reason",
            "customer left",
            "--json",
        ],
    )
    .json();
    assert_eq!(revoked["key"]["status"], "revoked");
}

/// What scripts rely on: an exit code per kind of failure, the message on stderr.
fn exit_codes(server: &Server) {
    let unknown = keyroll(server, &["keys", "show", "key_01m90000000000000000000000"]);
    assert_eq!(unknown.code, 3, "not found: {}", unknown.stderr);
    assert!(
        unknown.stderr.starts_with("keyroll: 404"),
        "{}",
        unknown.stderr
    );
    let refused = keyroll(
        server,
        &[
            "keys",
            "create",
            "--org",
            "bad org!",
            "--name",
            "x",
            "--rate-limit",
            "1",
        ],
    );
    assert_eq!(refused.code, 4, "refused: {}", refused.stderr);
    let denied = keyroll_with(server, "wrong-token-0123456789abcdef", &["keys", "list"]);
    assert_eq!(denied.code, 5, "denied: {}", denied.stderr);
    let usage = keyroll(server, &["rotate", "key_x", "--grace", "soon"]);
    assert_eq!(usage.code, 2, "usage: {}", usage.stderr);
    let gone = Command::new(env!("CARGO_BIN_EXE_keyroll"))
        .args(["keys", "list"])
        .env("KEYROLL_URL", "http://127.0.0.1:9")
        .env("KEYROLL_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(gone.status.code(), Some(6), "unreachable");
    let completions = ok(server, &["completions", "bash"]);
    assert!(completions.stdout.contains("keyroll") && completions.stdout.contains("rotations"));
}

#[test]
fn every_subcommand_against_keyroll_local_in_memory() {
    let server = start(&[("KEYROLL_BACKEND", "memory")], &[]);
    walk(&server, "org_cliwalk");
    exit_codes(&server);
}

#[test]
fn every_subcommand_against_keyroll_local_on_dynamodb_local() {
    std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect(
        "AWS_ENDPOINT_URL_DYNAMODB is not set: this test needs DynamoDB Local; run scripts/test",
    );
    let table = format!("keyroll-cli-{}", std::process::id());
    let server = start(
        &[("KEYROLL_BACKEND", "aws"), ("KEYROLL_TABLE_NAME", &table)],
        &["--create-tables"],
    );
    walk(&server, "org_cliaws");
    exit_codes(&server);
}

/// `rows` import rows for `org`, with a header; row `bad` (1-based) was created in the
/// future, which the import refuses for that row alone.
fn import_csv(org: &str, rows: usize, bad: Option<usize>) -> String {
    let mut csv = String::from(
        "id,organizationId,name,scopes,rateLimit,class,prefix,lookupHash,createdAt,status\n",
    );
    for n in 1..=rows {
        let created = if Some(n) == bad {
            "2999-01-01T00:00:00Z"
        } else {
            "2026-06-01T00:00:00Z"
        };
        let hash = format!("{:064x}", n as u128 * 7919 + rows as u128);
        csv.push_str(&format!(
            "legacy-{org}-{n},{org},\"legacy key {n}, imported\",read write,10,server,sk_live_{n:08x},{hash},{created},active\n"
        ));
    }
    csv
}

#[test]
fn an_import_of_ten_thousand_rows_shows_progress_and_a_summary() {
    let server = start(&[("KEYROLL_BACKEND", "memory")], &[]);
    let file = work_dir("import").join("legacy.csv");
    std::fs::write(&file, import_csv("org_import", 10_000, Some(4321))).unwrap();
    let run = keyroll(&server, &["import", file.to_str().unwrap()]);
    assert_eq!(run.code, 7, "one invalid row is a problem: {}", run.stderr);
    let progress: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" rows ("))
        .collect();
    assert_eq!(
        progress.len(),
        11,
        "one line at the start and one per batch: {}",
        run.stderr
    );
    assert!(progress[10].contains("10000/10000 rows (9999 imported, 0 duplicates, 1 invalid)"));
    assert!(
        run.stderr.contains("row 4321: "),
        "the invalid row, numbered in the file: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("imported    9999") && run.stdout.contains("invalid     1"),
        "{}",
        run.stdout
    );
    assert!(
        !file.with_extension("csv.keyroll-progress").exists(),
        "no progress left once done"
    );

    // The same file again: every row already there.
    let again = keyroll(&server, &["import", file.to_str().unwrap(), "--json"]);
    let summary: Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(summary["imported"], 0);
    assert_eq!(summary["duplicates"], 9999);
    let listed = ok(
        &server,
        &[
            "keys",
            "list",
            "--org",
            "org_import",
            "--limit",
            "150",
            "--json",
        ],
    )
    .json();
    assert_eq!(listed["keys"].as_array().unwrap().len(), 150);
}

#[test]
fn an_interrupted_import_resumes_where_it_stopped() {
    let server = start(&[("KEYROLL_BACKEND", "memory")], &[]);
    let dir = work_dir("resume");
    let file = dir.join("legacy.csv");
    std::fs::write(&file, import_csv("org_resume", 3_000, None)).unwrap();
    // As an earlier run leaves it after two of three batches (the second batch's answer
    // lost after it committed, so it counts as not done).
    let first = keyroll(
        &server,
        &["import", file.to_str().unwrap(), "--batch", "1000"],
    );
    assert_eq!(first.code, 0, "{}", first.stderr);
    let progress = file.with_file_name("legacy.csv.keyroll-progress");
    use sha2::Digest;
    let sha256 = hex::encode(sha2::Sha256::digest(std::fs::read(&file).unwrap()));
    std::fs::write(
        &progress,
        format!(
            r#"{{"fileSha256":"{sha256}","rowsDone":1000,"imported":1000,"duplicates":0,"invalid":0,"problems":[]}}"#
        ),
    )
    .unwrap();
    let resumed = keyroll(&server, &["import", file.to_str().unwrap(), "--json"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("resuming after row 1000 of 3000"),
        "{}",
        resumed.stderr
    );
    let summary: Value = serde_json::from_str(&resumed.stdout).unwrap();
    assert_eq!(
        summary["imported"], 1000,
        "the first batch counted from the earlier run"
    );
    assert_eq!(
        summary["duplicates"], 2000,
        "the rows sent again were not imported twice"
    );
    assert!(!progress.exists());

    // A progress file of another version of the file is refused, not resumed.
    std::fs::write(
        &progress,
        r#"{"fileSha256":"00","rowsDone":1,"imported":1,"duplicates":0,"invalid":0,"problems":[]}"#,
    )
    .unwrap();
    let refused = keyroll(&server, &["import", file.to_str().unwrap()]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--restart"));
    assert_eq!(
        keyroll(&server, &["import", file.to_str().unwrap(), "--restart"]).code,
        0
    );
}

#[test]
fn a_batch_keyroll_refuses_stops_the_import_at_its_row_and_keeps_the_progress() {
    let server = start(&[("KEYROLL_BACKEND", "memory")], &[]);
    let file = work_dir("refused").join("legacy.csv");
    // Row 1500 has no valid lookup hash: the route refuses its whole batch (1001-2000).
    let csv = import_csv("org_refused", 2_500, None).replacen(
        &format!("{:064x}", 1500u128 * 7919 + 2500),
        "not-a-hash",
        1,
    );
    std::fs::write(&file, csv).unwrap();
    let run = keyroll(&server, &["import", file.to_str().unwrap()]);
    assert_eq!(run.code, 4, "refused: {}", run.stderr);
    assert!(
        run.stderr.contains("row 1500 lookupHash"),
        "named by its row in the file: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("stopped after row 1000"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("imported    1000"),
        "the summary so far: {}",
        run.stdout
    );
    let progress = file.with_file_name("legacy.csv.keyroll-progress");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&progress).unwrap()).unwrap();
    assert_eq!(saved["rowsDone"], 1000, "kept for the next run");
}
