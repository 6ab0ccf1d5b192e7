//! How Java prints numbers, dates and socket addresses (`Double.toString`,
//! `BigDecimal.setScale(4, HALF_UP)`, `Date.toString`, `InetSocketAddress.toString`): the
//! words print them byte for byte as a Java server does.

use std::net::SocketAddr;
use zk_proto::time::civil_from_days;

/// Java's `InetSocketAddress.toString` (Java 14+) for an accepted socket: `/127.0.0.1:2181`,
/// `/[0:0:0:0:0:0:0:1]:2181` (IPv6 groups uncompressed, `%scope` if any). IPv4-mapped IPv6
/// addresses print as IPv4, as Java turns them into `Inet4Address`.
pub fn java_socket_addr(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("/{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            if let Some(v4) = a.ip().to_ipv4_mapped() {
                return format!("/{v4}:{}", a.port());
            }
            let groups: Vec<String> = a.ip().segments().iter().map(|g| format!("{g:x}")).collect();
            let scope = if a.scope_id() != 0 {
                format!("%{}", a.scope_id())
            } else {
                String::new()
            };
            format!("/[{}{scope}]:{}", groups.join(":"), a.port())
        }
    }
}

/// Java's `Date.toString` in UTC: `Tue Nov 24 20:10:57 UTC 2026`.
pub fn java_date_utc(epoch_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[month as usize - 1],
        day,
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        year
    )
}

/// `yyyy-MM-dd HH:mm UTC` of a Unix time in seconds, as Java prints its build date
/// (`Version.getFullVersion`).
pub fn java_build_date_utc(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        sod / 3600,
        sod % 3600 / 60
    )
}

/// `AvgMinMaxCounter.getAvg`: `total / (double) count`, then `new BigDecimal(avg)
/// .setScale(4, HALF_UP).doubleValue()` (the exact binary value rounded half-up at the 4th
/// decimal); 0 when `count` is 0.
pub fn java_rounded_avg(total: i64, count: u64) -> f64 {
    if count == 0 {
        return 0.0;
    }
    round_half_up_4(total as f64 / count as f64)
}

fn round_half_up_4(x: f64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let bits = x.abs().to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exp) = if exp_bits == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), exp_bits - 1075)
    };
    let rounded = if exp >= 0 {
        // An integer already.
        x.abs()
    } else {
        let k = exp.unsigned_abs();
        if k > 120 {
            // Below 2^-67: rounds to 0.
            0.0
        } else {
            // |x| * 10^4 = mantissa * 10^4 / 2^k, exactly.
            let scaled = u128::from(mantissa) * 10_000;
            let unit = 1u128 << k;
            let mut q = scaled >> k;
            if (scaled & (unit - 1)) * 2 >= unit {
                q += 1;
            }
            // BigDecimal.doubleValue: an exact division while the digits fit 52 bits, else a
            // correctly rounded parse.
            if q < (1 << 52) {
                q as f64 / 10_000.0
            } else {
                format!("{q}e-4").parse().unwrap_or(f64::MAX)
            }
        }
    };
    if rounded == 0.0 {
        0.0
    } else if x < 0.0 {
        -rounded
    } else {
        rounded
    }
}

/// Java's `Double.toString`: the shortest digits that read back as `d`, laid out as
/// `123.45` / `0.001` / `1.0` for 10^-3 <= |d| < 10^7, else as `1.0E7` / `1.2345E-5`; `NaN`,
/// `Infinity`, `-0.0`. (JDK 19+ picks exactly these digits; older JDKs print one digit more
/// for a few values with 16-17 significant digits, and `4.9E-324` for the smallest
/// subnormal; such values do not occur in these answers.)
pub fn java_double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let sign = if d < 0.0 { "-" } else { "" };
    let abs = d.abs();
    // Rust prints the shortest round-trip digits: "2.5532e0", "1e7", "1.2345e-5".
    let sci = format!("{abs:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (1e-3..1e7).contains(&abs) {
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            format!(
                "{sign}0.{}{digits}",
                "0".repeat(point.unsigned_abs() as usize)
            )
        } else {
            let point = point as usize;
            if point >= digits.len() {
                format!("{sign}{digits}{}.0", "0".repeat(point - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, SocketAddrV6};

    #[test]
    fn java_double_to_string_matches_java() {
        let cases: &[(f64, &str)] = &[
            (2.5532, "2.5532"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (22.0, "22.0"),
            (0.1354, "0.1354"),
            (100.0, "100.0"),
            (-1.5, "-1.5"),
            (0.001, "0.001"),
            (0.000_999, "9.99E-4"),
            (1.0e-4, "1.0E-4"),
            (1.2345e-5, "1.2345E-5"),
            (123_456.789, "123456.789"),
            (9_999_999.0, "9999999.0"),
            (1.0e7, "1.0E7"),
            (12_345_678.9, "1.23456789E7"),
            (1.0e21, "1.0E21"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (value, java) in cases {
            assert_eq!(java_double_to_string(*value), *java, "{value:e}");
        }
    }

    #[test]
    fn rounded_avg_is_java_big_decimal_half_up() {
        // From the captured mntr: sum/cnt pairs and Java's avg.
        assert_eq!(java_rounded_avg(240, 94), 2.5532);
        assert_eq!(java_rounded_avg(191, 52), 3.6731);
        assert_eq!(java_rounded_avg(49, 42), 1.1667);
        assert_eq!(java_rounded_avg(13, 54), 0.2407);
        assert_eq!(java_rounded_avg(13, 96), 0.1354);
        assert_eq!(java_rounded_avg(163, 54), 3.0185);
        assert_eq!(java_rounded_avg(22, 1), 22.0);
        assert_eq!(java_rounded_avg(0, 0), 0.0);
        // Exact ties round up (1/32 = 0.03125 is exact in binary).
        assert_eq!(java_rounded_avg(1, 32), 0.0313);
        assert_eq!(java_rounded_avg(-1, 32), -0.0313);
        // 0.00005 is not exact: the double is above it, so it rounds up; 0.00015 is below.
        assert_eq!(round_half_up_4(0.00005), 0.0001);
        assert_eq!(round_half_up_4(0.00015), 0.0001);
        assert_eq!(round_half_up_4(1e-300), 0.0);
        assert_eq!(round_half_up_4(-1e-300), 0.0);
        assert_eq!(round_half_up_4(1e300), 1e300);
        assert_eq!(round_half_up_4(123_456_789.123_456), 123_456_789.123_5);
        // Past 2^52 digits BigDecimal parses its decimal string.
        assert_eq!(round_half_up_4(1e12 + 0.123_45), 1_000_000_000_000.123_4);
        assert_eq!(java_double_to_string(java_rounded_avg(1, 3)), "0.3333");
        assert_eq!(java_double_to_string(java_rounded_avg(2, 3)), "0.6667");
    }

    #[test]
    fn dates_as_java_prints_them() {
        assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        assert_eq!(
            java_date_utc(1_795_551_057_000),
            "Tue Nov 24 20:10:57 UTC 2026"
        );
        assert_eq!(
            java_date_utc(1_795_551_057_999),
            "Tue Nov 24 20:10:57 UTC 2026"
        );
        assert_eq!(
            java_date_utc(951_782_400_000),
            "Tue Feb 29 00:00:00 UTC 2000"
        );
        assert_eq!(java_date_utc(-1), "Wed Dec 31 23:59:59 UTC 1969");
    }

    #[test]
    fn socket_addresses_as_java_prints_them() {
        let v4: SocketAddr = "127.0.0.1:58794".parse().unwrap();
        assert_eq!(java_socket_addr(&v4), "/127.0.0.1:58794");
        let v6: SocketAddr = "[::1]:2181".parse().unwrap();
        assert_eq!(java_socket_addr(&v6), "/[0:0:0:0:0:0:0:1]:2181");
        let mapped: SocketAddr = "[::ffff:10.0.0.7]:40000".parse().unwrap();
        assert_eq!(java_socket_addr(&mapped), "/10.0.0.7:40000");
        let scoped = SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1, 0x2ff, 0xfe00, 0xab),
            9,
            0,
            3,
        ));
        assert_eq!(java_socket_addr(&scoped), "/[fe80:0:0:0:1:2ff:fe00:ab%3]:9");
    }
}
