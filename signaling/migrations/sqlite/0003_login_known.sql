-- Addresses (IPv4, or an IPv6 /64) that logged into an account: a correct
-- password from one of them passes the per-account login throttle, so
-- failures by others cannot lock the owner out.
CREATE TABLE login_known (
    email TEXT NOT NULL,
    address TEXT NOT NULL,
    last_ok BIGINT NOT NULL,
    PRIMARY KEY (email, address)
);
