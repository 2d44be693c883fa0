-- Tenants see only their own customers and orders. The tenant comes from the session setting
-- app.tenant_id, which a login role can carry (ALTER ROLE … SET app.tenant_id = '…') or the
-- application can set per transaction (SET LOCAL app.tenant_id = '…').
-- The tables' owner (who runs migrations) is not subject to the policy; application roles are.
CREATE OR REPLACE FUNCTION current_tenant() RETURNS uuid
  LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;

DROP POLICY IF EXISTS tenant_isolation ON customers;
CREATE POLICY tenant_isolation ON customers
  USING (tenant_id = current_tenant())
  WITH CHECK (tenant_id = current_tenant());

DROP POLICY IF EXISTS tenant_isolation ON orders;
CREATE POLICY tenant_isolation ON orders
  USING (tenant_id = current_tenant())
  WITH CHECK (tenant_id = current_tenant());
