-- Clients registered without --auth-method accept both methods the
-- metadata advertises (client_secret_basic and client_secret_post). Before
-- this, 'basic' meant Basic only and 'post' meant both; every existing
-- client keeps what it could do and gains the body method where it lacked it.
UPDATE clients SET auth_method = 'any' WHERE auth_method IN ('basic', 'post');
