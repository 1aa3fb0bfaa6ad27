//! RTP port allocation from `[media] rtp_ports`: even ports for RTP, the odd one above kept
//! free for RTCP. Freed ports go to the back of the line so a port is not reused while
//! late packets of its last call may still arrive.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};

use cc_common::config::PortRange;

use crate::MediaError;

#[derive(Debug)]
pub(crate) struct PortPool {
    free: VecDeque<u16>,
}

impl PortPool {
    pub(crate) fn new(range: PortRange) -> Self {
        let first = range.first + range.first % 2;
        let free = (first..range.last).step_by(2).collect();
        PortPool { free }
    }

    /// Binds a non-blocking UDP socket on the next free even port. Ports another process
    /// holds are skipped (and kept in the pool: they may be free later).
    pub(crate) fn bind(&mut self, ip: IpAddr) -> Result<(UdpSocket, u16), MediaError> {
        for _ in 0..self.free.len().min(64) {
            let Some(port) = self.free.pop_front() else {
                break;
            };
            match UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(socket) => {
                    socket.set_nonblocking(true).map_err(MediaError::Io)?;
                    return Ok((socket, port));
                }
                Err(e) => {
                    tracing::debug!(port, error = %e, "RTP port busy, trying the next");
                    self.free.push_back(port);
                }
            }
        }
        Err(MediaError::NoPorts)
    }

    pub(crate) fn release(&mut self, port: u16) {
        self.free.push_back(port);
    }

    pub(crate) fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_even_and_reused_last() {
        let range: PortRange = "41001-41007".parse().unwrap();
        let mut pool = PortPool::new(range);
        assert_eq!(pool.available(), 3);
        let ip = IpAddr::from([127, 0, 0, 1]);
        let (_a, pa) = pool.bind(ip).unwrap();
        let (_b, pb) = pool.bind(ip).unwrap();
        assert!(pa % 2 == 0 && pb % 2 == 0 && pa != pb);
        pool.release(pa);
        let (_c, pc) = pool.bind(ip).unwrap();
        assert_ne!(pc, pa, "the freed port waits behind the others");
    }

    #[test]
    fn an_exhausted_pool_says_so() {
        let mut pool = PortPool::new("41010-41011".parse().unwrap());
        let ip = IpAddr::from([127, 0, 0, 1]);
        let _held = pool.bind(ip).unwrap();
        assert!(matches!(pool.bind(ip), Err(MediaError::NoPorts)));
    }
}
