"""Signing in and staying signed in: the password policy (passwords), the sign-in limits kept in
Redis (limits), the per-login epoch that ends sessions and tokens (revocation), and the FAB
security views and API built on them (views, api). `app.security` wires them into FAB."""
