#!/usr/bin/env perl
# Split a Kaldi list (scp, text, utt2spk, ...: "<key> <rest>" lines) into contiguous, nearly equal
# parts, with the interface of Kaldi's utils/split_scp.pl:
#   utils/split_scp.pl [--utt2spk=<utt2spk>] in.scp out.1.scp out.2.scp ...   # N parts into N files
#   utils/split_scp.pl [--one-based] -j <N> <k> in.scp [out.scp]             # part k only (0-based
#                                                                              # unless --one-based; stdout)
# Part sizes differ by at most one line (the first parts take the extra lines); with --utt2spk,
# the lines of one speaker stay in one part (parts are then as equal as whole speakers allow).
# Fails (naming the file) when there are more parts than lines (or speakers), as Kaldi's does.
use strict;
use warnings;

my ($utt2spk, $one_based, $num_jobs, $job_id) = ("", 0, 0, -1);
while (@ARGV && $ARGV[0] =~ /^-/) {
    my $o = shift @ARGV;
    if ($o =~ /^--utt2spk=(.+)$/) { $utt2spk = $1; }
    elsif ($o eq "--utt2spk") { $utt2spk = shift @ARGV; }
    elsif ($o eq "--one-based" || $o eq "--one_based") { $one_based = 1; }
    elsif ($o eq "-j") {
        ($num_jobs, $job_id) = splice(@ARGV, 0, 2);
        defined $job_id && $num_jobs =~ /^\d+$/ && $job_id =~ /^\d+$/
            or die "split_scp.pl: -j needs <num_jobs> <job_id>\n";
    }
    else { die "split_scp.pl: unknown option $o\n"; }
}
@ARGV >= 1 or die "usage: split_scp.pl [--utt2spk=F] [--one-based] [-j N k] in.scp [out1 out2 ...]\n";
my $in = shift @ARGV;
my @outs = @ARGV;
if ($num_jobs) {
    $job_id -= 1 if $one_based;
    ($job_id >= 0 && $job_id < $num_jobs) or die "split_scp.pl: job id out of range 0..@{[$num_jobs - 1]} (--one-based: 1..$num_jobs)\n";
    @outs <= 1 or die "split_scp.pl: with -j, give at most one output file\n";
} else {
    @outs >= 1 or die "split_scp.pl: no output files given\n";
}
my $n = $num_jobs || scalar @outs;

open(my $fh, "<", $in) or die "split_scp.pl: cannot read $in: $!\n";
my @lines = <$fh>;
close $fh;

# groups of lines that stay together: one line each, or one speaker's lines (--utt2spk)
my @groups;
if ($utt2spk ne "") {
    my %spk;
    open(my $u, "<", $utt2spk) or die "split_scp.pl: cannot read $utt2spk: $!\n";
    while (<$u>) { my ($utt, $s) = split; $spk{$utt} = $s if defined $s; }
    close $u;
    my $prev = "";
    for my $l (@lines) {
        my ($key) = split(/\s+/, $l);
        defined $key && exists $spk{$key} or die "split_scp.pl: $in: utterance '" . ($key // "") . "' not in $utt2spk\n";
        if (!@groups || $spk{$key} ne $prev) { push @groups, []; $prev = $spk{$key}; }
        push @{$groups[-1]}, $l;
    }
} else {
    @groups = map { [$_] } @lines;
}
scalar(@groups) >= $n or die "split_scp.pl: $in: cannot split " . scalar(@groups)
    . ($utt2spk ? " speakers" : " lines") . " into $n parts\n";

# part j ends once the running line count reaches round(total * (j + 1) / n)
my $total = scalar @lines;
my @parts = map { [] } 1 .. $n;
my ($j, $count) = (0, 0);
for my $gi (0 .. $#groups) {
    my $g = $groups[$gi];
    push @{$parts[$j]}, @$g;
    $count += scalar @$g;
    my $left_groups = $#groups - $gi;       # groups still to place
    my $left_parts = $n - 1 - $j;           # parts still to fill
    if ($left_parts > 0 && ($count >= int(($total * ($j + 1) + $n - 1) / $n) || $left_groups == $left_parts)) {
        $j++;
    }
}

my @todo = $num_jobs ? ([$job_id, $outs[0]]) : map { [$_, $outs[$_]] } 0 .. $n - 1;
for my $t (@todo) {
    my ($k, $path) = @$t;
    my $o;
    if (defined $path) { open($o, ">", $path) or die "split_scp.pl: cannot write $path: $!\n"; }
    else { $o = \*STDOUT; }
    print $o @{$parts[$k]};
    close $o if defined $path;
}
