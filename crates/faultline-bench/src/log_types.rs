//! Log types the miner was never developed on: eight message families written in the style of the
//! eight Loghub sets that are *not* in ../shared/data/loghub (Android, HealthApp, Linux, Mac,
//! OpenStack, Proxifier, Thunderbird, Windows), each line drawn from a template with its variables
//! filled at random, so the truth of every line's group is known. `faultline-bench log-types --out
//! DIR` writes them in Loghub's layout (`DIR/<Set>/<Set>_2k.log_structured.csv`, columns `Content`
//! and `EventId`) for `faultline-bench templates --data DIR`.
//!
//! What these sets vary is what real logs vary and the development sets did not all have: values in
//! the first token (`host:port open through proxy`, `cupsd startup succeeded`), values of several
//! tokens (`lifetime <1 sec`, a date, `Wake reason: RTC (Alarm)`), values that are words with no
//! digit (user names, intents, process names), hex object ids inside braces, `key=value` runs, and
//! access-log lines. They are a held-out check written from the shape of those log types, not
//! copies of them: report them, do not tune the miner on them.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::Path;

/// Lines a set holds: Loghub's samples hold 2,000.
const LINES: usize = 2_000;
/// How skewed the templates' frequencies are (weight 1/rank^s): a few events make most of a log.
const ZIPF_S: f64 = 0.9;

/// The eight families: name and templates. A `$NAME` is a variable (see [`fill`]).
const SETS: [(&str, &[&str]); 8] = [
    ("Android", ANDROID),
    ("HealthApp", HEALTHAPP),
    ("Linux", LINUX),
    ("Mac", MAC),
    ("OpenStack", OPENSTACK),
    ("Proxifier", PROXIFIER),
    ("Thunderbird", THUNDERBIRD),
    ("Windows", WINDOWS),
];

const ANDROID: &[&str] = &[
    "printFreezingDisplayLogsopening app wtoken = AppWindowToken{$HEX7 token=Token{$HEX7 ActivityRecord{$HEX7 u0 $PKG/$ACT t$N}}}, allDrawn= false, startingDisplayed =  false, startingMoved =  false, isRelaunching =  false",
    "acquire lock=$N, flags=0x1, tag=\"View Lock\", name=$PKG, ws=null, uid=$N, pid=$N",
    "release:lock=$N, flg=0x0, tag=\"View Lock\", name=$PKG, ws=null, uid=$N, pid=$N",
    "Skipping AppWindowToken{$HEX7 token=Token{$HEX7 ActivityRecord{$HEX7 u0 $PKG/$ACT t$N}}} -- going to hide",
    "getRingerModeInternal",
    "setSystemUiVisibility vis=$HEX8 mask=$HEX8 oldVal=$HEX8 newVal=$HEX8 diff=$HEX8 fullscreenStackVis=0 dockedStackVis=0, fullscreenStackBounds=Rect(0, 0 - 0, 0), dockedStackBounds=Rect(0, 0 - 0, 0)",
    "cancelNotification,index:$SMALL",
    "interceptKeyBeforeQueueing: key $N , result : $SMALL",
    "Animation done in AppWindowAnimator{$HEX7 appToken=AppWindowToken{$HEX7 token=Token{$HEX7 ActivityRecord{$HEX7 u0 $PKG/$ACT t$N}}}}: reportedVisible=false",
    "ready=true,policy=3,wakefulness=1,wksummary=0x$SMALL,uasummary=0x1,bootcompleted=true,boostinprogress=false,waitmodeenable=false,mode=false,manual=$N,auto=-1,adj=0.0userId=0",
    "onStartJob, jobId = $SMALL",
    "Not appending ime window",
    "startActivity called from non-Activity context; forcing Intent.FLAG_ACTIVITY_NEW_TASK for: Intent { act=android.intent.action.VIEW flg=0x$HEX8 cmp=$PKG/$ACT }",
    "Failed to read property file /proc/$N/status",
];

const HEALTHAPP: &[&str] = &[
    "onStandStepChanged $N",
    "onExtend:$N $SMALL $SMALL $SMALL",
    "processHandleBroadcastAction action:$INTENT",
    "flush sensor data",
    "REPORT : $N $N $N $N",
    "getTodayTotalDetailSteps = $N##$N##$N##$N##$N##$N",
    "setTodayTotalDetailSteps=$N##$N##$N##$N##$N##$N",
    "calculateCaloriesWithCache totalCalories=$N",
    "calculateAltitudeWithCache totalAltitude=$N",
    "insertHiHealthData() bulkSaveDetailHiHealthData() size = $SMALL,totalTime = $N",
    "screen status unknown,think screen on",
    "onReceive action: $INTENT",
    "uploadStaticsToDB failed message=true",
    "upLoadOneMinuteDataToEngine time=$N",
];

const LINUX: &[&str] = &[
    "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=$RHOST",
    "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=$RHOST  user=$USER",
    "check pass; user unknown",
    "session opened for user $USER by (uid=0)",
    "session closed for user $USER",
    "connection from $IP ($RHOST) at $DATE",
    "connection from $IP () at $DATE",
    "ALERT exited abnormally with [1]",
    "data_thread() got not answer from any [Thinkpad] datasource",
    "$DAEMON startup succeeded",
    "$DAEMON shutdown succeeded",
    "Authentication failed from $IP ($IP): Software caused connection abort",
    "Kerberos authentication failed",
    "FAILED LOGIN $SMALL FROM (null) FOR $USER, Authentication failure",
    "warning: can't get client address: Connection reset by peer",
    "getpeername (ftpd): Transport endpoint is not connected",
];

const MAC: &[&str] = &[
    "IOThunderboltSwitch<0>(0x0)::listenerCallback - Thunderbolt HPD packet for route = 0x0 port = $SMALL unplug = $BIT",
    "ARPT: $F: wl0: wl_update_tcpkeep_seq: Original Seq: $N, Ack: $N, Win size: $N",
    "ARPT: $F: AirPort_Brcm43xx::powerChange: System Wake - Full Wake/ Dark Wake / Maintenance wake",
    "ARPT: $F: AirPort_Brcm43xx::syncPowerState: WWEN[enabled]",
    "Wake reason: $WAKE",
    "en0: BSSID changed to $MAC",
    "AppleCamIn::systemWakeCall - messageType = 0x$HEX8",
    "PM response took $N ms ($N, powerd)",
    "network changed: v4(en0-:$IP) DNS- Proxy- SMB-",
    "Sandbox: $PROC($N) deny(1) network-outbound /private/var/run/mDNSResponder",
    "CCFile::captureLog Received Capture notice id: $F, reason = AuthFail:sts:$SMALL",
    "Bluetooth -- LE is supported - Disable LE meta event",
    "[HID] [MT] AppleMultitouchDevice::willTerminate entered",
    "en0::IO80211Interface::postMessage bssid changed",
    "Setting BTCoex Config: enable_2G:1, profile_2g:0, enable_5G:1, profile_5G:0",
    "Previous shutdown cause: $SMALL",
];

const OPENSTACK: &[&str] = &[
    "[instance: $UUID] VM Started (Lifecycle Event)",
    "[instance: $UUID] VM Paused (Lifecycle Event)",
    "[instance: $UUID] VM Resumed (Lifecycle Event)",
    "[instance: $UUID] VM Stopped (Lifecycle Event)",
    "[req-$UUID $HEX32 $HEX32 - - -] $IP \"GET $APIPATH HTTP/1.1\" status: $STATUS len: $N time: $F",
    "[req-$UUID $HEX32 $HEX32 - - -] $IP \"POST $APIPATH HTTP/1.1\" status: $STATUS len: $N time: $F",
    "[req-$UUID $HEX32 $HEX32 - - -] [instance: $UUID] Took $F seconds to spawn the instance on the hypervisor.",
    "[req-$UUID $HEX32 $HEX32 - - -] [instance: $UUID] Terminating instance",
    "[req-$UUID $HEX32 $HEX32 - - -] [instance: $UUID] Claim successful",
    "[req-$UUID $HEX32 $HEX32 - - -] [instance: $UUID] Attempting claim: memory $N MB, disk $SMALL GB, vcpus $SMALL CPU",
    "[req-$UUID $HEX32 $HEX32 - - -] [instance: $UUID] Total memory: $N MB, used: $F MB",
    "[instance: $UUID] During sync_power_state the instance has a pending task (spawning). Skip.",
    "[req-$UUID - - - - -] Compute_service record updated for $NODE:$NODE",
    "[req-$UUID - - - - -] Auditing locally available compute resources for node $NODE",
    "[req-$UUID - - - - -] Final resource view: name=$NODE phys_ram=$NMB used_ram=$NMB phys_disk=$SMALLGB used_disk=$SMALLGB total_vcpus=16 used_vcpus=$SMALL pci_stats=[]",
    "[req-$UUID - - - - -] Total usable vcpus: 16, total allocated vcpus: $SMALL",
    "image $UUID at (/var/lib/nova/instances/_base/$HEX40): checking",
    "Active base files: /var/lib/nova/instances/_base/$HEX40",
];

const PROXIFIER: &[&str] = &[
    "$HOST:$PORT open through proxy $PROXY:$PORT HTTPS",
    "$HOST:$PORT open through proxy $PROXY:$PORT SOCKS5",
    "$HOST:$PORT close, $N bytes sent, $N bytes received, lifetime $LIFE",
    "$HOST:$PORT close, $N bytes ($KB KB) sent, $N bytes ($KB KB) received, lifetime $LIFE",
    "$HOST:$PORT error : Could not connect through proxy $PROXY:$PORT - Proxy server cannot establish a connection with the target, status code $STATUS",
    "$HOST:$PORT error : A connection request was canceled before the completion.",
    "$HOST:$PORT error : Could not connect to proxy $PROXY:$PORT - connection attempt failed with error $N",
];

const THUNDERBIRD: &[&str] = &[
    "session opened for user $USER by (uid=0)",
    "session closed for user $USER",
    "($USER) CMD (run-parts /etc/cron.hourly)",
    "[ib_sm_sweep.c:$N]: ********************** NEW SWEEP ********************",
    "[ib_sm_sweep.c:$N]: No topology change",
    "[ib_sm_sweep.c:$N]: No configuration change required",
    "synchronized to $IP, stratum $SMALL",
    "Accepted publickey for $USER from $IP port $PORT ssh2",
    "kernel time sync status change $HEX4",
    "unable to qualify my own domain name ($TBHOST) -- using short name",
    "Did not receive identification string from $IP",
    "NFS: server $TBHOST not responding, still trying",
    "NFS: server $TBHOST OK",
    "connect from $TBHOST[$IP]",
    "disconnect from $TBHOST[$IP]",
];

const WINDOWS: &[&str] = &[
    "Loaded Servicing Stack v6.1.7601.$N with Core: C:\\Windows\\winsxs\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_6.1.7601.$N_none_$HEX16\\cbscore.dll",
    "SQM: Initializing online with Windows opt-in: False",
    "SQM: Cleaning up report files older than 10 days.",
    "SQM: Requesting upload of all unsent reports.",
    "SQM: Failed to start upload with file pattern: C:\\Windows\\servicing\\sqm\\*_std.sqm, flags: 0x2 [HRESULT = 0x80004005 - E_FAIL]",
    "SQM: Failed to start standard sample upload. [HRESULT = 0x80004005 - E_FAIL]",
    "SQM: Queued $SMALL file(s) for upload with pattern: C:\\Windows\\servicing\\sqm\\*_all.sqm, flags: 0x6",
    "Warning: Unrecognized packageExtended attribute.",
    "Expecting attribute name [HRESULT = 0x800f080d - CBS_E_MANIFEST_INVALID_ITEM]",
    "Failed to get next element [HRESULT = 0x800f080d - CBS_E_MANIFEST_INVALID_ITEM]",
    "Session: $N_$N initialized by client WindowsUpdateAgent.",
    "Read out cached package applicability for package: Package_for_KB$N~31bf3856ad364e35~amd64~~6.1.$SMALL.$SMALL, ApplicableState: $STATE, CurrentState:$STATE",
    "Starting TrustedInstaller initialization.",
    "Ending TrustedInstaller initialization.",
    "Starting the TrustedInstaller main loop.",
    "TrustedInstaller service starts successfully.",
    "No startup processing required, TrustedInstaller service was not set as autostart, or else a reboot is still pending.",
    "NonStart: Checking to ensure startup processing was not required.",
    "NonStart: Success, startup processing not required as expected.",
    "Startup processing thread terminated normally",
];

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0')).collect()
}

fn ip(rng: &mut StdRng) -> String {
    let o = |rng: &mut StdRng| rng.random_range(1..255).to_string();
    format!("{}.{}.{}.{}", o(rng), o(rng), o(rng), o(rng))
}

/// A number drawn log-uniformly from 1 to 10^6: small and large values alike.
fn number(rng: &mut StdRng) -> String {
    (rng.random_range(0.0f64..6.0).exp2().powf(3.32) as u64).to_string()
}

/// One variable's value.
fn value(rng: &mut StdRng, var: &str) -> String {
    match var {
        "N" => number(rng),
        "NMB" => format!("{}MB", number(rng)),
        "SMALL" => rng.random_range(0..20).to_string(),
        "SMALLGB" => format!("{}GB", rng.random_range(0..40)),
        "BIT" => rng.random_range(0..2).to_string(),
        "STATUS" => pick(rng, &["200", "202", "204", "404", "500"]).into(),
        "STATE" => pick(rng, &["0", "7", "80", "112"]).into(),
        "F" => format!("{:.7}", rng.random_range(0.0..400.0)),
        "KB" => format!("{:.2}", rng.random_range(0.0..900.0)),
        "IP" => ip(rng),
        "PORT" => {
            let any = rng.random_range(1024..65535).to_string();
            pick(rng, &["80", "443", "5070", "8080", &any]).into()
        }
        "HEX4" => hex(rng, 4),
        "HEX7" => hex(rng, 7),
        "HEX8" => hex(rng, 8),
        "HEX16" => hex(rng, 16),
        "HEX32" => hex(rng, 32),
        "HEX40" => hex(rng, 40),
        "UUID" => format!("{}-{}-{}-{}-{}", hex(rng, 8), hex(rng, 4), hex(rng, 4), hex(rng, 4), hex(rng, 12)),
        "MAC" => (0..6).map(|_| hex(rng, 2)).collect::<Vec<_>>().join(":"),
        "USER" => {
            pick(rng, &["root", "test", "guest", "admin", "oracle", "cyrus", "news", "mysql", "user1"]).into()
        }
        "PKG" => pick(
            rng,
            &[
                "com.tencent.mm",
                "com.android.systemui",
                "com.tencent.qt.qtl",
                "android",
                "com.huawei.health",
                "com.android.phone",
            ],
        )
        .into(),
        "ACT" => pick(
            rng,
            &[
                ".activity.info.NewsDetailXmlActivity",
                ".ui.LauncherUI",
                ".MainActivity",
                "com.android.settings.Settings",
            ],
        )
        .into(),
        "INTENT" => pick(
            rng,
            &[
                "android.intent.action.SCREEN_ON",
                "android.intent.action.SCREEN_OFF",
                "android.intent.action.TIME_TICK",
                "android.intent.action.USER_PRESENT",
            ],
        )
        .into(),
        "RHOST" => match rng.random_range(0..3) {
            0 => ip(rng),
            1 => format!("{}.adsl.proxad.net", ip(rng).replace('.', "-")),
            _ => {
                pick(rng, &["biblioteka.wsi.edu.pl", "massive.merukuru.org", "n219076184117.netvigator.com"])
                    .into()
            }
        },
        "DATE" => format!(
            "{} Jul {} {:02}:{:02}:{:02} 2005",
            pick(rng, &["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]),
            rng.random_range(1..29),
            rng.random_range(0..24),
            rng.random_range(0..60),
            rng.random_range(0..60)
        ),
        "DAEMON" => {
            pick(rng, &["cupsd", "syslogd", "klogd", "irqbalance", "sshd", "xinetd", "crond", "portmap"])
                .into()
        }
        "WAKE" => pick(rng, &["ARPT (Network)", "RTC (Alarm)", "EC.LidOpen (User)", "OHC1 (User)"]).into(),
        "PROC" => pick(rng, &["com.apple.Addres", "QQ", "mDNSResponder", "Safari", "CalendarAgent"]).into(),
        "HOST" => match rng.random_range(0..3) {
            0 => ip(rng),
            _ => pick(
                rng,
                &[
                    "www.google.com",
                    "clients4.google.com",
                    "ssl.gstatic.com",
                    "mtalk.google.com",
                    "api.weixin.qq.com",
                    "dl.dropboxusercontent.com",
                    "webcache.googleusercontent.com",
                    "s.youtube.com",
                    "p3-buy.itunes.apple.com",
                ],
            )
            .into(),
        },
        "PROXY" => pick(rng, &["proxy.cse.cuhk.edu.hk", "proxy.example.org"]).into(),
        "LIFE" => pick(rng, &["<1 sec", "00:01", "00:02", "00:13", "01:02:03", "02:19"]).into(),
        // Loghub's OpenStack groups a method's requests whatever their path.
        "APIPATH" => match rng.random_range(0..3) {
            0 => format!("/v2/{}/servers/detail", hex(rng, 32)),
            1 => format!("/v2/{}/servers/{}", hex(rng, 32), value(rng, "UUID")),
            _ => format!("/v2/{}/os-server-external-events", hex(rng, 32)),
        },
        "NODE" => format!("cp-{}.slowvm1.tcloud-pg0.utah.cloudlab.us", rng.random_range(1..4)),
        "TBHOST" => format!("{}{}", pick(rng, &["dn", "bn", "an", "tbird-admin"]), rng.random_range(1..900)),
        other => format!("${other}"),
    }
}

/// A template with its variables filled: a `$` and the capital letters after it name one.
fn fill(rng: &mut StdRng, template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let name: String =
            rest[at + 1..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit()).collect();
        out.push_str(&value(rng, &name));
        rest = &rest[at + 1 + name.len()..];
    }
    out.push_str(rest);
    out
}

/// The lines of one set and the template each was drawn from, the templates' frequencies skewed
/// by [`ZIPF_S`] in an order drawn at random.
fn draw(rng: &mut StdRng, templates: &[&str]) -> Vec<(String, usize)> {
    let mut order: Vec<usize> = (0..templates.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let weights: Vec<f64> = (0..templates.len()).map(|r| 1.0 / ((r + 1) as f64).powf(ZIPF_S)).collect();
    let total: f64 = weights.iter().sum();
    (0..LINES)
        .map(|_| {
            let mut x = rng.random_range(0.0..total);
            let rank = weights.iter().position(|w| {
                x -= w;
                x < 0.0
            });
            let k = order[rank.unwrap_or(templates.len() - 1)];
            (fill(rng, templates[k]), k)
        })
        .collect()
}

/// Writes the eight sets under `out`, one directory each, as Loghub lays its samples out.
pub fn write(out: &Path, seed: u64) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, templates) in SETS {
        let dir = out.join(name);
        std::fs::create_dir_all(&dir)?;
        let mut w = csv::Writer::from_path(dir.join(format!("{name}_2k.log_structured.csv")))?;
        w.write_record(["LineId", "Content", "EventId", "EventTemplate"])?;
        for (k, (line, t)) in draw(&mut rng, templates).into_iter().enumerate() {
            w.write_record([&(k + 1).to_string(), &line, &format!("E{}", t + 1), templates[t]])?;
        }
        w.flush()?;
    }
    println!("wrote {} sets of {LINES} lines under {}", SETS.len(), out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_is_filled() {
        let mut rng = StdRng::seed_from_u64(1);
        for (name, templates) in SETS {
            for t in templates {
                let line = fill(&mut rng, t);
                assert!(!line.contains('$'), "{name}: {line}");
            }
        }
    }

    #[test]
    fn every_template_is_drawn() {
        let mut rng = StdRng::seed_from_u64(2);
        for (_, templates) in SETS {
            let drawn: std::collections::HashSet<usize> =
                draw(&mut rng, templates).into_iter().map(|x| x.1).collect();
            assert_eq!(drawn.len(), templates.len());
        }
    }
}
