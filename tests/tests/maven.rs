//! Maven end to end with the real `mvn` against Trove, and nginx serving Debian's
//! `/usr/share/maven-repo` as the stand-in for Maven Central: a two-module project deployed
//! as a release to a hosted release repository and as two snapshots to a hosted snapshot
//! repository (its plugins and junit resolved through the group while doing so); a redeploy
//! of the release refused with the reason mvn prints; then a clean project with an empty local
//! repository that resolves its plugins, junit and the deployed artifacts through a group of
//! releases + snapshots + a proxy of nginx, runs its test and packages; and the same build
//! again from an empty local repository with nginx stopped. One nginx and one Trove for all.

use std::process::Output;

use trove_tests::maven::{MavenUpstream, Mvn, write_consumer_project, write_library_project};
use trove_tests::{TroveInstance, blocking};

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn curl(args: &[&str]) -> (String, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = s.rsplit_once('\n').unwrap();
    (code.to_owned(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mvn_deploys_releases_and_snapshots_and_builds_through_a_group_with_a_proxy() {
    // Beside Debian's tree, two artifacts with a `.sha256`: one right, one wrong.
    let checked = tempfile::tempdir().unwrap();
    for (name, body, claimed) in [
        ("good", &b"good jar"[..], &b"good jar"[..]),
        ("bad", &b"tampered jar"[..], &b"original jar"[..]),
    ] {
        let d = checked
            .path()
            .join(format!("com/example/checked/{name}/1.0"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(format!("{name}-1.0.jar")), body).unwrap();
        let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(claimed));
        std::fs::write(
            d.join(format!("{name}-1.0.jar.sha256")),
            format!("{sha256}  {name}-1.0.jar\n"),
        )
        .unwrap();
    }
    // A public "9.9.9" of the private coordinates the test deploys (dependency confusion).
    let confusion = checked.path().join("org/example/trove/lib");
    std::fs::create_dir_all(confusion.join("9.9.9")).unwrap();
    std::fs::write(
        confusion.join("maven-metadata.xml"),
        "<metadata><groupId>org.example.trove</groupId><artifactId>lib</artifactId><versioning><latest>9.9.9</latest><release>9.9.9</release><versions><version>9.9.9</version></versions></versioning></metadata>",
    )
    .unwrap();
    std::fs::write(confusion.join("9.9.9/lib-9.9.9.jar"), "not ours").unwrap();
    let upstream = blocking({
        let d = checked.path().to_owned();
        move || MavenUpstream::start_with(Some(&d))
    })
    .await;
    let passwords = tempfile::tempdir().unwrap();
    std::fs::write(passwords.path().join("deployer"), "deploy-pass-1").unwrap();
    let trove = TroveInstance::start_secured(&format!(
        r#"[security]
anonymous = true
[[role]]
name = "maven-read"
privileges = [{{ format = "maven", repo = "maven-public", actions = ["browse", "read"] }}]
[[role]]
name = "maven-deploy"
privileges = [{{ format = "maven", repo = "*", actions = ["*"] }}]
[[user]]
name = "anonymous"
roles = ["maven-read"]
[[user]]
name = "deployer"
password_file = "{pw}/deployer"
roles = ["maven-deploy"]
[[repository]]
name = "maven-releases"
format = "maven"
kind = "hosted"
options = {{ version_policy = "release" }}
[[repository]]
name = "maven-snapshots"
format = "maven"
kind = "hosted"
options = {{ version_policy = "snapshot" }}
[[repository]]
name = "maven-central"
format = "maven"
kind = "proxy"
remote = "{remote}"
negative_cache_ttl = 3600
[[repository]]
name = "maven-public"
format = "maven"
kind = "group"
members = ["maven-releases", "maven-snapshots", "maven-central"]
"#,
        pw = passwords.path().display(),
        remote = upstream.url(),
    ))
    .await;
    let main = trove.main_addr();
    let base = format!("http://{main}/repository");
    let group = format!("{base}/maven-public/");
    let releases = format!("{base}/maven-releases/");
    let snapshots = format!("{base}/maven-snapshots/");
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_owned();

    let consumer = blocking({
        let (w, group, base) = (w.clone(), group.clone(), base.clone());
        move || {
            let deployer = Mvn::new(&group, &[("trove-deploy", "deployer", "deploy-pass-1")]);
            let project = w.join("library");
            let deploy_to = |url: &str| format!("-DaltDeploymentRepository=trove-deploy::{url}");

            // The release, tests run on the way.
            write_library_project(&project, "1.0");
            let out = deployer.run(&project, &["deploy", &deploy_to(&releases)]);
            assert!(
                text(&out).contains("Tests run: 1, Failures: 0"),
                "{}",
                text(&out)
            );
            for f in [
                "parent/1.0/parent-1.0.pom",
                "lib/1.0/lib-1.0.jar",
                "app/1.0/app-1.0.pom",
            ] {
                let (code, _) = curl(&[
                    "-u",
                    "deployer:deploy-pass-1",
                    &format!("{releases}org/example/trove/{f}"),
                ]);
                assert_eq!(code, "200", "{f}");
            }
            let (code, sha1) = curl(&[
                "-u",
                "deployer:deploy-pass-1",
                &format!("{releases}org/example/trove/lib/1.0/lib-1.0.jar.sha1"),
            ]);
            let jar = std::fs::read(project.join("lib/target/lib-1.0.jar")).unwrap();
            assert_eq!(
                (code.as_str(), sha1),
                (
                    "200",
                    hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&jar))
                )
            );

            // A redeploy of the release is refused, with a reason mvn prints.
            let out =
                deployer.run_unchecked(&project, &["deploy", "-DskipTests", &deploy_to(&releases)]);
            assert!(
                !out.status.success(),
                "a redeploy must fail:\n{}",
                text(&out)
            );
            for l in text(&out).lines().filter(|l| l.contains("409")) {
                eprintln!("[e2e] mvn printed: {l}");
            }
            assert!(
                text(&out).contains("409")
                    && text(&out).contains("Repository does not allow updating assets"),
                "{}",
                text(&out)
            );

            // Two snapshot builds.
            write_library_project(&project, "1.1-SNAPSHOT");
            for _ in 0..2 {
                deployer.run(&project, &["deploy", "-DskipTests", &deploy_to(&snapshots)]);
            }
            let (code, doc) = curl(&[
                "-u",
                "deployer:deploy-pass-1",
                &format!("{snapshots}org/example/trove/lib/1.1-SNAPSHOT/maven-metadata.xml"),
            ]);
            assert_eq!(code, "200", "{doc}");
            assert!(doc.contains("<buildNumber>2</buildNumber>"), "{doc}");
            let jars: Vec<&str> = doc
                .split("<snapshotVersion>")
                .filter(|e| e.contains("<extension>jar</extension>"))
                .collect();
            assert_eq!(jars.len(), 2, "both builds listed: {doc}");
            assert!(
                jars[0].contains("-2</value>") && jars[1].contains("-1</value>"),
                "{doc}"
            );
            // A snapshot is refused by the release repository, a release by the snapshot one.
            let (code, _) = curl(&[
                "-u",
                "deployer:deploy-pass-1",
                "-X",
                "PUT",
                "--data-binary",
                "x",
                &format!("{releases}org/example/trove/lib/1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar"),
            ]);
            assert_eq!(code, "400");

            // The group merges the artifact's metadata from both hosted members.
            let (code, doc) = curl(&[&format!("{group}org/example/trove/lib/maven-metadata.xml")]);
            assert_eq!(code, "200", "anonymous read of the group: {doc}");
            assert!(
                doc.contains("<version>1.0</version>")
                    && doc.contains("<version>1.1-SNAPSHOT</version>")
                    && doc.contains("<release>1.0</release>")
                    && doc.contains("<latest>1.1-SNAPSHOT</latest>"),
                "{doc}"
            );
            assert!(
                !doc.contains("9.9.9"),
                "the hosted artifact hides the proxied one: {doc}"
            );
            let (code, doc) = curl(&[
                "-u",
                "deployer:deploy-pass-1",
                &format!("{base}/maven-central/org/example/trove/lib/maven-metadata.xml"),
            ]);
            assert!(
                code == "200" && doc.contains("9.9.9"),
                "the proxy has it: {code} {doc}"
            );

            // The proxy checks a release file against the upstream's `.sha256`.
            let checked = format!("{group}com/example/checked");
            let (code, body) = curl(&[&format!("{checked}/good/1.0/good-1.0.jar")]);
            assert_eq!((code.as_str(), body.as_str()), ("200", "good jar"));
            // The tampered one streams while it downloads, so its status is already sent when
            // the digest is known: the body ends in an error (never the bytes whole), nothing is
            // cached, and the next request fails the same way.
            for _ in 0..2 {
                let out = std::process::Command::new("curl")
                    .args([
                        "-sS",
                        "-o",
                        "/dev/null",
                        &format!("{checked}/bad/1.0/bad-1.0.jar"),
                    ])
                    .output()
                    .unwrap();
                assert!(!out.status.success(), "tampered bytes were served whole");
            }
            let (code, _) = curl(&[
                "-u",
                "deployer:deploy-pass-1",
                &format!("{base}/maven-central/com/example/checked/good/1.0/good-1.0.jar.sha256"),
            ]);
            assert_eq!(code, "200", "the checksum file is served too");

            // A clean project, empty local repository, anonymous: everything through the group.
            let user = Mvn::new(&group, &[]);
            let consumer = w.join("consumer");
            write_consumer_project(&consumer, "1.0", "1.1-SNAPSHOT");
            let out = user.run(&consumer, &["package"]);
            assert!(
                text(&out).contains("Tests run: 1, Failures: 0"),
                "{}",
                text(&out)
            );
            assert!(consumer.join("target/consumer-1.0.jar").exists());
            let snap = user.local().join("org/example/trove/lib/1.1-SNAPSHOT");
            let names: Vec<String> = std::fs::read_dir(&snap)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert!(
                names.iter().any(|n| n.ends_with("-2.jar")),
                "the newest build: {names:?}"
            );
            (user, consumer)
        }
    })
    .await;
    let log = upstream.access_log();
    assert!(
        log.contains("/junit/junit/4.13.2/junit-4.13.2.jar")
            && log.contains("/maven-compiler-plugin/3.10.1/"),
        "plugins and junit came through the proxy:\n{}",
        &log[..log.len().min(2000)]
    );
    // A group merges metadata from every member, the proxy too; a file a hosted member has is
    // never asked upstream.
    let asked: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("/org/example/trove/") && !l.contains("/maven-metadata.xml"))
        .collect();
    assert!(asked.is_empty(), "hosted files asked upstream: {asked:#?}");

    // nginx stops: the same build, from an empty local repository, works from the cache.
    drop(upstream);
    blocking(move || {
        let (user, consumer) = consumer;
        user.clear_local();
        let _ = std::fs::remove_dir_all(consumer.join("target"));
        let out = user.run(&consumer, &["package"]);
        assert!(
            text(&out).contains("Tests run: 1, Failures: 0"),
            "{}",
            text(&out)
        );
        assert!(consumer.join("target/consumer-1.0.jar").exists());
    })
    .await;
    trove.stop().await;
}
