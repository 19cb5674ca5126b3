-- A read-only PostgreSQL role for oldrooms' [database] path, with only the
-- rights its queries need. Run it as a superuser (or the database's owner
-- with CREATEROLE) on Synapse's database, once Synapse has created its tables:
--   sudo -u postgres psql -d synapse -f readonly-role.sql
-- Then give the role a password (ALTER ROLE oldrooms_ro PASSWORD '...') or
-- let it in by peer authentication in pg_hba.conf. Running it again is safe.
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'oldrooms_ro') THEN
    CREATE ROLE oldrooms_ro LOGIN;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO oldrooms_ro', current_database());
END $$;
ALTER ROLE oldrooms_ro SET default_transaction_read_only = on;
GRANT USAGE ON SCHEMA public TO oldrooms_ro;
GRANT SELECT ON schema_version, rooms, room_stats_state, room_stats_current, events,
  event_json, rejections, redactions, room_ban_redactions, event_backward_extremities,
  event_edges, room_memberships, current_state_events TO oldrooms_ro;
-- Only the user names: the users table also holds password hashes.
GRANT SELECT (name) ON users TO oldrooms_ro;
