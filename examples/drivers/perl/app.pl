#!/usr/bin/perl
# logout_everywhere from Perl DBI with DBD::Pg, with bound parameters.
#
#   perl app.pl    (t/drivers.sh runs it; PG* variables, LE_UUID_DB, LE_BIGINT_DB)
#
# The subs between "readme:" markers are the README's Perl snippet.
use strict;
use warnings;
use B ();
use DBI;

# readme: dbd-pg
# Sign-in check, on every request (after the JWT's signature and exp).
sub token_valid {
    my ($dbh, $jti) = @_;
    my ($valid) = $dbh->selectrow_array('SELECT logout_everywhere.token_valid(?)', undef, $jti);
    return $valid;    # 1 or 0
}

# Password change on this device: the trigger logs the user out everywhere
# else; current_jti spares this session.
sub change_password {
    my ($dbh, $user_id, $hashed, $current_jti) = @_;
    $dbh->begin_work;
    eval {
        $dbh->do("SELECT set_config('logout_everywhere.current_jti', ?, true)", undef, $current_jti);
        $dbh->do('UPDATE users SET hashed_password = ? WHERE id = ?', undef, $hashed, $user_id);
        $dbh->commit;
        1;
    } or do { my $err = $@; $dbh->rollback; die $err };
}

# "Log out everywhere" (but here): how many tokens it revoked; undef: no such user.
sub log_out_everywhere {
    my ($dbh, $user_id, $except_jti) = @_;
    my ($revoked) = eval {
        $dbh->selectrow_array('SELECT logout_everywhere.log_out_everywhere(?, except_jti => ?)',
                              undef, $user_id, $except_jti);
    };
    return $revoked if defined $revoked;
    return undef if $dbh->state eq 'P0002';    # no such user: 404
    die $@;    # $dbh->state: 22P02 not a valid id, 22004 null id
}
# readme: end

my $NAME   = 'dbd-pg';
my $checks = 0;

# What Perl holds: an integer (IV), a number (NV) or a string (PV).
sub kind {
    my $v = shift;
    return 'undef' unless defined $v;
    my $f = B::svref_2object(\$v)->FLAGS;
    return $f & B::SVf_IOK ? 'integer' : $f & B::SVf_NOK ? 'number' : 'string';
}

sub check {
    my ($what, $got, $want, $kind) = @_;
    my $ok = defined $want ? (defined $got && $got eq $want) : !defined $got;
    $ok &&= kind($got) eq $kind if $kind;
    die sprintf("FAILED %s: got %s (%s), expected %s (%s)\n", $what, $got // 'undef', kind($got),
                $want // 'undef', $kind // 'any') unless $ok;
    $checks++;
    printf "ok %s: %s (%s)\n", $what, $got // 'undef', kind($got);
}

sub sqlstate {
    my ($what, $want, $dbh, $code) = @_;
    if (eval { $code->(); 1 }) { die "FAILED $what: succeeded, expected SQLSTATE $want\n" }
    check("$what -> SQLSTATE", $dbh->state, $want, 'string');
}

sub one {
    my ($dbh, $sql, @params) = @_;
    my ($v) = $dbh->selectrow_array($sql, undef, @params);
    return $v;
}

sub new_jti { join '', map { sprintf '%02x', int rand 256 } 1 .. 12 }
sub new_uuid {
    my $h = join '', map { sprintf '%02x', int rand 256 } 1 .. 16;
    substr($h, 12, 1) = '4';
    return join '-', unpack 'A8 A4 A4 A4 A12', $h;
}

# Sign-in: store the token, as AshAuthentication does.
sub sign_in {
    my ($dbh, $subject) = @_;
    my $jti = new_jti();
    $dbh->do(q{INSERT INTO tokens (jti, subject, expires_at, purpose)
               VALUES (?, ?, now() AT TIME ZONE 'utc' + interval '7 days', 'user')}, undef, $jti, $subject);
    return $jti;
}

sub connect_to {
    DBI->connect("dbi:Pg:dbname=$_[0]", '', '', { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
}

sub uuid_users {
    my $dbh = connect_to($ENV{LE_UUID_DB});
    my $user_id = one($dbh, 'SELECT id FROM users WHERE email = ?', "$NAME\@example.com");
    check('uuid id type', kind($user_id), 'string');
    my $subject = one($dbh, 'SELECT logout_everywhere.subject_for(?)', $user_id);
    check('subject_for(?)', $subject, "user?id=$user_id", 'string');

    my ($laptop, $phone) = (sign_in($dbh, $subject), sign_in($dbh, $subject));
    check('token_valid(?)', token_valid($dbh, $laptop), 1, 'integer');
    check('is_revoked(?)', one($dbh, 'SELECT logout_everywhere.is_revoked(?)', $phone), 0, 'integer');

    change_password($dbh, $user_id, '$2b$12$new', $laptop);
    check('password change: this device stays', token_valid($dbh, $laptop), 1);
    check('password change: the phone is out', token_valid($dbh, $phone), 0);
    check('is_revoked(phone)', one($dbh, 'SELECT logout_everywhere.is_revoked(?)', $phone), 1);

    my $tablet = sign_in($dbh, $subject);
    check('log_out_everywhere(?, except_jti => ?)', log_out_everywhere($dbh, $user_id, $laptop), 1, 'integer');
    check('  the tablet is out', token_valid($dbh, $tablet), 0);
    check('  this device stays', token_valid($dbh, $laptop), 1);
    check('log_out_everywhere($1)', one($dbh, 'SELECT logout_everywhere.log_out_everywhere($1)', $user_id), 1);

    sign_in($dbh, $subject);
    check('the action log_out_everywhere(u)',
          one($dbh, 'SELECT public.log_out_everywhere(u) FROM users u WHERE id = ?', $user_id), 1, 'integer');

    check('no such user -> undef (P0002)', log_out_everywhere($dbh, new_uuid()), undef);
    sqlstate('log_out_everywhere(undef)', '22004', $dbh, sub { log_out_everywhere($dbh, undef) });
    sqlstate("log_out_everywhere('42')", '22P02', $dbh, sub { log_out_everywhere($dbh, '42') });
    sqlstate('log_out_everywhere(unknown uuid)', 'P0002', $dbh,
             sub { one($dbh, 'SELECT logout_everywhere.log_out_everywhere(?)', new_uuid()) });
    sqlstate('subject_for(undef)', '22004', $dbh, sub { one($dbh, 'SELECT logout_everywhere.subject_for(?)', undef) });
    $dbh->disconnect;
}

sub bigint_users {
    my $dbh = connect_to($ENV{LE_BIGINT_DB});
    my $user_id = one($dbh, 'SELECT id FROM users WHERE email = ?', "$NAME\@example.com");
    check('bigint id type', kind($user_id), 'integer');
    my $subject = one($dbh, 'SELECT logout_everywhere.subject_for(?, user_table => ?::regclass)', $user_id, 'users');
    check('subject_for(?, user_table => ?::regclass)', $subject, "user?id=$user_id", 'string');

    my ($laptop, $phone) = (sign_in($dbh, $subject), sign_in($dbh, $subject));
    check('token_valid(?)', token_valid($dbh, $phone), 1);
    sqlstate('two tables, no user_table', '55000', $dbh, sub { log_out_everywhere($dbh, $user_id) });

    change_password($dbh, $user_id, '$2b$12$new', $laptop);
    check('password change: this device stays', token_valid($dbh, $laptop), 1);
    check('password change: the phone is out', token_valid($dbh, $phone), 0);

    my $tablet = sign_in($dbh, $subject);
    check('log_out_everywhere(?, except_jti => ?, user_table => ?::regclass)', one($dbh,
          'SELECT logout_everywhere.log_out_everywhere(?, except_jti => ?, user_table => ?::regclass)',
          $user_id, $laptop, 'users'), 1, 'integer');
    check('  the tablet is out', token_valid($dbh, $tablet), 0);
    check('the action log_out_everywhere(u)',
          one($dbh, 'SELECT public.log_out_everywhere(u) FROM users u WHERE id = ?', $user_id), 1);
    check('  this device is out too', token_valid($dbh, $laptop), 0);

    my $by_table = 'SELECT logout_everywhere.log_out_everywhere(?, user_table => ?::regclass)';
    sqlstate('log_out_everywhere(undef)', '22004', $dbh, sub { one($dbh, $by_table, undef, 'users') });
    sqlstate("log_out_everywhere('abc')", '22P02', $dbh, sub { one($dbh, $by_table, 'abc', 'users') });
    sqlstate('log_out_everywhere(999999999)', 'P0002', $dbh, sub { one($dbh, $by_table, 999999999, 'users') });
    $dbh->disconnect;
}

uuid_users();
bigint_users();
print "$NAME: $checks checks passed\n";
