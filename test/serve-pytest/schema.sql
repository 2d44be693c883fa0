create table authors (id serial primary key, name text not null unique);
create table notes (
  id serial primary key,
  author_id int not null references authors (id),
  body text not null,
  created_at timestamptz not null default now()
);
insert into authors (name) values ('ada'), ('grace');
insert into notes (author_id, body) values (1, 'first note'), (2, 'second note');
