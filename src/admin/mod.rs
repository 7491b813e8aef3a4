//! The admin HTTP endpoint: /healthz, /readyz, /status, /metrics, /reload.
