//! The binary's own errors: a setting that does not work is named, with its
//! cause, never reported as "internal".

async fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgraph"));
    command.args(args).env("RUST_LOG", "error");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), command.output())
        .await
        .expect("the command ends")
        .expect("the command runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_database_that_cannot_be_reached_is_named_with_its_cause() {
    let cases = [
        (
            "postgres://someone:hunter2@127.0.0.1:1/nowhere",
            "Connection refused",
        ),
        ("mysql://127.0.0.1/x", "neither sqlite"),
        (
            "sqlite:///nonexistent-dir-leadgraph/x.db?mode=rwc",
            "unable to open database file",
        ),
    ];
    for (url, cause) in cases {
        let (ok, stderr) = run(&["migrate"], &[("DATABASE_URL", url)]).await;
        assert!(!ok, "{url}");
        assert!(stderr.contains("DATABASE_URL"), "{stderr}");
        assert!(stderr.contains(cause), "{stderr}");
        assert!(!stderr.contains("internal"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    }
}

#[tokio::test]
async fn an_address_in_use_is_named() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/cli.db?mode=rwc", dir.path().display());
    let (ok, stderr) = run(
        &["serve"],
        &[
            ("DATABASE_URL", &url),
            ("LEADGRAPH_ADDR", &addr),
            ("LEADGRAPH_RESCORE_INTERVAL", "0"),
        ],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("LEADGRAPH_ADDR"), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

#[tokio::test]
async fn token_settings_that_do_not_work_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/cli.db?mode=rwc", dir.path().display());
    let secret = ("LEADGRAPH_JWT_SECRET", "0123456789abcdef0123456789abcdef");
    let cases: [(&[&str], (&str, &str), &str); 3] = [
        (
            &["token", "--role", "bogus", "--sub", "x"],
            secret,
            "--role: unknown role",
        ),
        (
            &["token", "--role", "SALES", "--sub", "x"],
            ("LEADGRAPH_JWT_SECRET", "short"),
            "LEADGRAPH_JWT_SECRET: must be at least 32 bytes",
        ),
        (
            &["token", "--role", "SALES", "--sub", "x"],
            ("LEADGRAPH_JWT_PUBLIC_KEY_FILE", "/nonexistent/key.pem"),
            "LEADGRAPH_JWT_PUBLIC_KEY_FILE: cannot read /nonexistent/key.pem",
        ),
    ];
    for (args, setting, expected) in cases {
        let (ok, stderr) = run(args, &[("DATABASE_URL", &url), setting]).await;
        assert!(!ok, "{args:?}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!stderr.contains("internal"), "{stderr}");
    }
}
