//! Maven end to end: the real `mvn` (3.8.7, on the machine) with its own settings file and
//! local repository per client, and Debian's `/usr/share/maven-repo` (the plugin packages
//! `scripts/test` installs: deploy, install, compiler, jar, resources, surefire, and junit)
//! served by nginx on loopback as the stand-in for Maven Central. Nothing here reaches the
//! network: every repository of every build is mirrored to Trove.
//!
//! nginx serves the tree in place (it follows the tree's symlinks into `/usr/share/java`), so
//! no copy of it is made.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::nginx::{Nginx, free_port};
use crate::util::{run, run_unchecked};

/// Debian's Maven repository.
pub const DEBIAN_REPO: &str = "/usr/share/maven-repo";

/// The plugin versions Debian ships, pinned in every test project's `pluginManagement`.
pub const PLUGINS: &[(&str, &str)] = &[
    ("maven-compiler-plugin", "3.10.1"),
    ("maven-resources-plugin", "3.3.0"),
    ("maven-jar-plugin", "3.3.0"),
    ("maven-surefire-plugin", "2.22.3"),
    ("maven-install-plugin", "3.1.0"),
    ("maven-deploy-plugin", "3.0.0"),
];

/// Panics (a failure, never a skip) when Debian's repository lacks what the projects need.
pub fn check_debian_repo() {
    let mut need: Vec<String> = PLUGINS
        .iter()
        .map(|(a, v)| format!("{DEBIAN_REPO}/org/apache/maven/plugins/{a}/{v}"))
        .collect();
    need.push(format!("{DEBIAN_REPO}/junit/junit/4.13.2"));
    for p in need {
        assert!(
            Path::new(&p).is_dir(),
            "{p} is missing: scripts/test installs libmaven-deploy-plugin-java, libmaven-install-plugin-java, \
             libmaven-compiler-plugin-java, libmaven-jar-plugin-java, libmaven-resources-plugin-java, libsurefire-java and junit4"
        );
    }
}

/// nginx serving Debian's Maven repository. Stopped on drop.
pub struct MavenUpstream {
    nginx: Nginx,
    addr: SocketAddr,
}

impl MavenUpstream {
    pub fn start() -> MavenUpstream {
        MavenUpstream::start_with(None)
    }

    /// With `extra`, paths under `/com/example/checked/` and `/org/example/trove/` are served
    /// from `extra` (files a test writes: an artifact with a wrong `.sha256`; a public
    /// artifact with the coordinates of a private one).
    pub fn start_with(extra: Option<&Path>) -> MavenUpstream {
        check_debian_repo();
        let port = free_port();
        let extra = extra
            .map(|d| {
                format!(
                    "        location /com/example/checked/ {{ root {d}; }}\n        location /org/example/trove/ {{ root {d}; }}\n",
                    d = d.display()
                )
            })
            .unwrap_or_default();
        let server = format!(
            "    server {{\n        listen 127.0.0.1:{port};\n        root {DEBIAN_REPO};\n{extra}    }}"
        );
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        MavenUpstream {
            nginx: Nginx::start(&server, addr),
            addr,
        }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn access_log(&self) -> String {
        self.nginx.access_log()
    }
}

/// Maven's built-in `central` refuses snapshots, and a mirror takes the policy of what it
/// mirrors: this profile redeclares `central` (for dependencies and plugins) with snapshots on,
/// as Nexus's documentation has users do, so the group's snapshots resolve.
const SNAPSHOTS_PROFILE: &str = "  <profiles><profile><id>trove</id>\n    \
    <repositories><repository><id>central</id><url>http://central</url><releases><enabled>true</enabled></releases><snapshots><enabled>true</enabled></snapshots></repository></repositories>\n    \
    <pluginRepositories><pluginRepository><id>central</id><url>http://central</url><releases><enabled>true</enabled></releases><snapshots><enabled>true</enabled></snapshots></pluginRepository></pluginRepositories>\n  \
    </profile></profiles>\n  <activeProfiles><activeProfile>trove</activeProfile></activeProfiles>\n";

/// One `mvn` user: a settings file whose mirror sends every repository to `mirror`, a
/// `server` entry per id with credentials, and an empty local repository.
pub struct Mvn {
    dir: TempDir,
}

impl Mvn {
    /// `servers` are `(id, user, password)`; the mirror's id is `trove`.
    pub fn new(mirror: &str, servers: &[(&str, &str, &str)]) -> Mvn {
        let dir = tempfile::Builder::new()
            .prefix("mvn.")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let servers: String = servers
            .iter()
            .map(|(id, user, pw)| {
                format!("    <server><id>{id}</id><username>{user}</username><password>{pw}</password></server>\n")
            })
            .collect();
        let settings = format!(
            "<settings>\n  <localRepository>{local}</localRepository>\n  <interactiveMode>false</interactiveMode>\n  \
             <mirrors>\n    <mirror><id>trove</id><mirrorOf>*</mirrorOf><url>{mirror}</url></mirror>\n  </mirrors>\n  \
             <servers>\n{servers}  </servers>\n{SNAPSHOTS_PROFILE}</settings>\n",
            local = dir.path().join("repository").display(),
        );
        std::fs::write(dir.path().join("settings.xml"), settings).expect("settings.xml");
        Mvn { dir }
    }

    /// Empties the local repository (the next build resolves everything through Trove).
    pub fn clear_local(&self) {
        let _ = std::fs::remove_dir_all(self.local());
    }

    pub fn local(&self) -> PathBuf {
        self.dir.path().join("repository")
    }

    fn command(&self, project: &Path, args: &[&str]) -> Command {
        let settings = self.dir.path().join("settings.xml");
        let mut cmd = Command::new("mvn");
        cmd.current_dir(project)
            .arg("-B")
            .arg("--no-transfer-progress")
            // Both the user and the global settings: nothing from the machine's.
            .arg("-s")
            .arg(&settings)
            .arg("-gs")
            .arg(&settings)
            .args(args)
            .env("MAVEN_OPTS", "-Xmx512m")
            .env_remove("MAVEN_ARGS");
        cmd
    }

    /// Runs mvn; panics with its output unless it succeeds.
    pub fn run(&self, project: &Path, args: &[&str]) -> Output {
        run(&mut self.command(project, args))
    }

    pub fn run_unchecked(&self, project: &Path, args: &[&str]) -> Output {
        run_unchecked(&mut self.command(project, args))
    }
}

fn plugin_management() -> String {
    PLUGINS
        .iter()
        .map(|(a, v)| {
            format!("      <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>{a}</artifactId><version>{v}</version></plugin>\n")
        })
        .collect()
}

const POM_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  <modelVersion>4.0.0</modelVersion>\n";

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The two-module project `org.example.trove:parent` at `version`: `lib` (a class, a junit
/// test) and `app` (depends on `lib`).
pub fn write_library_project(dir: &Path, version: &str) {
    let props = "  <properties>\n    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>\n    <maven.compiler.release>17</maven.compiler.release>\n  </properties>\n";
    write(
        &dir.join("pom.xml"),
        &format!(
            "{POM_HEAD}  <groupId>org.example.trove</groupId>\n  <artifactId>parent</artifactId>\n  <version>{version}</version>\n  \
             <packaging>pom</packaging>\n  <modules><module>lib</module><module>app</module></modules>\n{props}  \
             <dependencyManagement><dependencies>\n    <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version><scope>test</scope></dependency>\n  \
             </dependencies></dependencyManagement>\n  <build><pluginManagement><plugins>\n{}    </plugins></pluginManagement></build>\n</project>\n",
            plugin_management()
        ),
    );
    let parent = format!(
        "  <parent><groupId>org.example.trove</groupId><artifactId>parent</artifactId><version>{version}</version></parent>\n"
    );
    write(
        &dir.join("lib/pom.xml"),
        &format!(
            "{POM_HEAD}{parent}  <artifactId>lib</artifactId>\n  <dependencies><dependency><groupId>junit</groupId><artifactId>junit</artifactId></dependency></dependencies>\n</project>\n"
        ),
    );
    write(
        &dir.join("app/pom.xml"),
        &format!(
            "{POM_HEAD}{parent}  <artifactId>app</artifactId>\n  <dependencies><dependency><groupId>org.example.trove</groupId><artifactId>lib</artifactId><version>${{project.version}}</version></dependency></dependencies>\n</project>\n"
        ),
    );
    write(
        &dir.join("lib/src/main/java/org/example/trove/Greeter.java"),
        &format!(
            "package org.example.trove;\npublic final class Greeter {{\n    public static final String VERSION = \"{version}\";\n    \
             public static String greet(String who) {{ return \"hello, \" + who; }}\n}}\n"
        ),
    );
    write(
        &dir.join("lib/src/test/java/org/example/trove/GreeterTest.java"),
        "package org.example.trove;\nimport static org.junit.Assert.assertEquals;\nimport org.junit.Test;\npublic class GreeterTest {\n    \
         @Test public void greets() { assertEquals(\"hello, trove\", Greeter.greet(\"trove\")); }\n}\n",
    );
    write(
        &dir.join("app/src/main/java/org/example/trove/app/Main.java"),
        "package org.example.trove.app;\npublic final class Main {\n    \
         public static String line() { return org.example.trove.Greeter.greet(\"app\"); }\n}\n",
    );
}

/// A project that uses the deployed artifacts: `app` at `app_version` (and through it the
/// parent POM), `lib` at `lib_version` (the nearest wins), and junit; its test checks which
/// `lib` it got.
pub fn write_consumer_project(dir: &Path, app_version: &str, lib_version: &str) {
    write(
        &dir.join("pom.xml"),
        &format!(
            "{POM_HEAD}  <groupId>org.example.use</groupId>\n  <artifactId>consumer</artifactId>\n  <version>1.0</version>\n  \
             <properties>\n    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>\n    <maven.compiler.release>17</maven.compiler.release>\n  </properties>\n  \
             <dependencies>\n    <dependency><groupId>org.example.trove</groupId><artifactId>app</artifactId><version>{app_version}</version></dependency>\n    \
             <dependency><groupId>org.example.trove</groupId><artifactId>lib</artifactId><version>{lib_version}</version></dependency>\n    \
             <dependency><groupId>junit</groupId><artifactId>junit</artifactId><version>4.13.2</version><scope>test</scope></dependency>\n  </dependencies>\n  \
             <build><pluginManagement><plugins>\n{}    </plugins></pluginManagement></build>\n</project>\n",
            plugin_management()
        ),
    );
    write(
        &dir.join("src/main/java/org/example/use/Use.java"),
        "package org.example.use;\npublic final class Use {\n    public static String both() { return org.example.trove.app.Main.line() + \" \" + org.example.trove.Greeter.VERSION; }\n}\n",
    );
    write(
        &dir.join("src/test/java/org/example/use/UseTest.java"),
        &format!(
            "package org.example.use;\nimport static org.junit.Assert.assertEquals;\nimport org.junit.Test;\npublic class UseTest {{\n    \
             @Test public void usesTheDeployedLib() {{ assertEquals(\"hello, app {lib_version}\", Use.both()); }}\n}}\n"
        ),
    );
}
