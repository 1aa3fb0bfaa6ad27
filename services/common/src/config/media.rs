//! `[media]`: RTP ports, the addresses written into SDP, prompts and recordings.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::defaults;

/// `[media]`: RTP endpoints, prompts and recordings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// Inclusive UDP port range for RTP, `"20000-29999"`. Each endpoint takes an even port
    /// (RTP) and reserves the odd one above it (RTCP).
    #[serde(default = "defaults::rtp_ports")]
    pub rtp_ports: PortRange,
    /// The address written into SDP: where peers send RTP.
    #[serde(default = "defaults::public_ip")]
    pub public_ip: IpAddr,
    /// The address RTP sockets bind to; defaults to `public_ip`. Behind NAT or in a pod,
    /// set it to `0.0.0.0` and `public_ip` to the outside address.
    #[serde(default)]
    pub bind_ip: Option<IpAddr>,
    /// Socket loops (threads) that carry RTP; 0 means one per CPU core.
    #[serde(default)]
    pub loops: usize,
    /// An endpoint that receives no RTP for this long raises an RTP timeout event
    /// (dead-call cleanup). 0 disables the check.
    #[serde(default = "defaults::rtp_timeout_secs")]
    pub rtp_timeout_secs: u64,
    /// Directory of prompt WAV files (8 kHz, 16-bit, mono); the file stem is the prompt id.
    #[serde(default = "defaults::prompts_dir")]
    pub prompts_dir: PathBuf,
    /// Where call recordings (stereo WAV plus a JSON metadata file) are written.
    #[serde(default = "defaults::recordings_dir")]
    pub recordings_dir: PathBuf,
    /// The one UDP port every WebRTC leg of this node shares (ICE-lite, DTLS-SRTP); 0
    /// picks a free port at start (logged). Browsers must be able to reach it.
    #[serde(default)]
    pub webrtc_port: u16,
    /// Most endpoints one node holds; more are refused (the caller gets a busy signal
    /// rather than the node running out of ports or memory).
    #[serde(default = "defaults::max_endpoints")]
    pub max_endpoints: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_ports: defaults::rtp_ports(),
            public_ip: defaults::public_ip(),
            bind_ip: None,
            loops: 0,
            rtp_timeout_secs: defaults::rtp_timeout_secs(),
            prompts_dir: defaults::prompts_dir(),
            recordings_dir: defaults::recordings_dir(),
            max_endpoints: defaults::max_endpoints(),
            webrtc_port: 0,
        }
    }
}

impl MediaConfig {
    pub fn bind_ip(&self) -> IpAddr {
        self.bind_ip.unwrap_or(self.public_ip)
    }
}

/// An inclusive port range written `"first-last"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    /// Endpoints the range can hold: one per even port with its odd partner inside.
    pub fn endpoint_capacity(&self) -> usize {
        let first = self.first + self.first % 2;
        if self.last <= first {
            return 0;
        }
        usize::from(self.last - first).div_ceil(2)
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not \"first-last\""))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("{p:?} is not a port number"))
        };
        let (first, last) = (port(a)?, port(b)?);
        if first == 0 || first >= last {
            return Err(format!("{s:?}: need 0 < first < last"));
        }
        let range = PortRange { first, last };
        if range.endpoint_capacity() == 0 {
            return Err(format!("{s:?} holds no even/odd port pair"));
        }
        Ok(range)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
