//! A real OpenLDAP `slapd` owned by one test: its own `slapd.conf` (mdb backend, the Debian
//! schemas), its own data directory, on a free loopback port, data loaded with `ldapadd`.
//! Debian's `slapd` and `ldap-utils` (scripts/test installs them, preseeded with
//! `slapd/no_configuration true` so no system directory is set up). Dropping it stops slapd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::util::{describe, poll_until, run, tail_file};

pub const SLAPD: &str = "/usr/sbin/slapd";
pub const LDAPADD: &str = "/usr/bin/ldapadd";
pub const LDAPMODIFY: &str = "/usr/bin/ldapmodify";

/// The suffix every test directory has.
pub const SUFFIX: &str = "dc=example,dc=org";
/// The directory manager (slapd's rootdn).
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PW: &str = "slapd-root-pw";
pub const PEOPLE: &str = "ou=people,dc=example,dc=org";
pub const GROUPS: &str = "ou=groups,dc=example,dc=org";
/// The service account Trove binds as to search (read access, no write).
pub const SERVICE_DN: &str = "cn=trove,ou=services,dc=example,dc=org";
pub const SERVICE_PW: &str = "trove-service-pw";

/// A running slapd.
pub struct Slapd {
    child: Option<Child>,
    port: u16,
    dir: TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Slapd {
    /// Starts slapd with the base entries (`ou=people`, `ou=groups`, `ou=services` and the
    /// service account) loaded.
    pub fn start() -> Slapd {
        for bin in [SLAPD, LDAPADD] {
            assert!(
                Path::new(bin).exists(),
                "{bin} is missing: apt-get install slapd ldap-utils (scripts/test does, preseeded \
                 with slapd/no_configuration true)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("slapd.")
            .tempdir_in("/tmp")
            .expect("slapd dir");
        std::fs::create_dir(dir.path().join("db")).expect("db dir");
        let port = free_port();
        let mut slapd = Slapd {
            child: None,
            port,
            dir,
        };
        std::fs::write(slapd.conf(), slapd.config()).expect("slapd.conf");
        slapd.spawn();
        slapd.add(&format!(
            "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: ou=services,{SUFFIX}\nobjectClass: organizationalUnit\nou: services\n\n\
             dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: trove\nuserPassword: {SERVICE_PW}\n"
        ));
        slapd
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slapd.conf")
    }

    fn config(&self) -> String {
        let d = self.dir.path().display();
        format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             include /etc/ldap/schema/nis.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             pidfile {d}/slapd.pid\n\
             database mdb\n\
             maxsize 10485760\n\
             suffix \"{SUFFIX}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PW}\n\
             directory {d}/db\n\
             access to attrs=userPassword by self read by anonymous auth by * none\n\
             access to * by dn.exact=\"{SERVICE_DN}\" read by self read by * none\n"
        )
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(SLAPD);
        // -d 0: stay in the foreground (so the child is slapd itself), log nothing extra.
        cmd.arg("-f")
            .arg(self.conf())
            .arg("-h")
            .arg(self.url() + "/")
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.dir.path().join("slapd.log")).expect("slapd log"),
            ));
        eprintln!("[e2e] starting `{}`", describe(&cmd));
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {SLAPD}: {e}")),
        );
        let port = self.port;
        let up = poll_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        assert!(
            up.is_some(),
            "slapd did not listen on {port}:\n{}",
            tail_file(&self.dir.path().join("slapd.log"), 30)
        );
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    fn ldap_tool(&self, bin: &str, ldif: &str) {
        let file = self.dir.path().join("change.ldif");
        std::fs::write(&file, ldif).expect("ldif");
        run(Command::new(bin)
            .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w", ROOT_PW, "-f"])
            .arg(&file));
    }

    /// `ldapadd` as the directory manager.
    pub fn add(&self, ldif: &str) {
        self.ldap_tool(LDAPADD, ldif);
    }

    /// `ldapmodify` as the directory manager.
    pub fn modify(&self, ldif: &str) {
        self.ldap_tool(LDAPMODIFY, ldif);
    }

    /// A person `uid=<uid>,ou=people,...` with a password.
    pub fn add_user(&self, uid: &str, password: &str) -> String {
        let dn = format!("uid={uid},{PEOPLE}");
        self.add(&format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nuserPassword: {password}\n"
        ));
        dn
    }

    /// A `groupOfNames` `cn=<cn>,ou=groups,...` with these member DNs; returns its DN.
    pub fn add_group(&self, cn: &str, members: &[&str]) -> String {
        let dn = format!("cn={cn},{GROUPS}");
        let mut ldif = format!("dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n");
        for m in members {
            ldif.push_str(&format!("member: {m}\n"));
        }
        self.add(&ldif);
        dn
    }

    /// Removes `member` from group `group_dn` (a group keeps at least one member: the schema
    /// requires one, so callers leave another in).
    pub fn remove_member(&self, group_dn: &str, member: &str) {
        self.modify(&format!(
            "dn: {group_dn}\nchangetype: modify\ndelete: member\nmember: {member}\n"
        ));
    }

    /// Stops slapd (SIGTERM, then waits); the data stays, [`Slapd::restart`] brings it back.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .output();
            let waited = poll_until(Duration::from_secs(10), || child.try_wait().ok().flatten());
            if waited.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Starts slapd again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The `[ldap]` section for Trove against this directory, with the service account's
    /// password in a file under the slapd dir.
    pub fn trove_section(&self, cache_ttl: u64) -> String {
        let pw = self.dir.path().join("bind.pw");
        std::fs::write(&pw, format!("{SERVICE_PW}\n")).expect("bind pw file");
        format!(
            "[ldap]\nurl = \"{}\"\nbind_dn = \"{SERVICE_DN}\"\nbind_password_file = \"{}\"\n\
             user_base = \"{PEOPLE}\"\nuser_filter = \"(uid={{username}})\"\n\
             group_base = \"{GROUPS}\"\ngroup_filter = \"(member={{dn}})\"\ncache_ttl = {cache_ttl}\n",
            self.url(),
            pw.display()
        )
    }

    pub fn log_tail(&self, n: usize) -> String {
        tail_file(&self.dir.path().join("slapd.log"), n)
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
