-- Two tenants with a few customers and a catalog: enough for the examples to read from.
INSERT INTO tenants (id, name) VALUES
  ('00000000-0000-4000-8000-00000000000a', 'acme'),
  ('00000000-0000-4000-8000-00000000000b', 'globex');

INSERT INTO customers (tenant_id, email, name, balance_cents) VALUES
  ('00000000-0000-4000-8000-00000000000a', 'ada@acme.test', 'Ada', 10000),
  ('00000000-0000-4000-8000-00000000000a', 'alan@acme.test', 'Alan', 5000),
  ('00000000-0000-4000-8000-00000000000b', 'grace@globex.test', 'Grace', 7500);

INSERT INTO products (sku, name, price_cents, stock) VALUES
  ('KB-01', 'Keyboard', 4900, 10),
  ('MS-01', 'Mouse', 1900, 25),
  ('MN-27', 'Monitor 27"', 23900, 3),
  ('CB-USB', 'USB-C cable', 900, 100);

-- One order per tenant, so the audit chain starts non-empty.
INSERT INTO orders (tenant_id, customer_id, total_cents)
  SELECT tenant_id, id, 4900 FROM customers WHERE email IN ('ada@acme.test', 'grace@globex.test');
INSERT INTO order_items (order_id, product_id, quantity, price_cents)
  SELECT o.id, p.id, 1, p.price_cents FROM orders o, products p WHERE p.sku = 'KB-01';
