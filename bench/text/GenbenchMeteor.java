// METEOR 1.5 driver for genbench: the jar's own classes, configured by the jar's own argument parser, scoring a
// batch of segments in several threads and then replaying the jar's -stdio "EVAL" on the printed statistics.
//
// Compiled once by bench/text/meteor.py into genbench's cache (javac, against pycocoevalcap's meteor-1.5.jar).
// Protocol (UTF-8 lines on stdin/stdout):
//   in:  SCORE lines exactly as pycocoevalcap writes them ("SCORE ||| ref ||| ... ||| hyp"), then "VOCAB"
//   out: every token the scorer can see in those segments (raw, normalised, lower-cased: a superset), then "END"
//   in:  "PARA <path>" (a paraphrase table with -a) or "PARA -" (the jar's default table)
//   out: one METEOR score per segment, then the corpus score, each as Meteor -stdio's EVAL prints them
// Per segment, the scorer is a MeteorScorer(MeteorScorer) copy (the jar's constructor for multi-threaded use: its
// own stemmer, shared read-only synonym and paraphrase tables). Statistics go through their text form and back,
// as in pycocoevalcap's SCORE/EVAL round trip, so every double is the one pycocoevalcap gets.

import edu.cmu.meteor.scorer.MeteorConfiguration;
import edu.cmu.meteor.scorer.MeteorScorer;
import edu.cmu.meteor.scorer.MeteorStats;
import edu.cmu.meteor.util.Constants;
import edu.cmu.meteor.util.Normalizer;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Properties;
import java.util.StringTokenizer;
import java.util.concurrent.atomic.AtomicInteger;

public class GenbenchMeteor {
    // One segment string: its raw tokens into the vocabulary, then (with -norm) normalised as the scorer would,
    // those tokens too; returns what the scorer gets.
    private static String prepare(HashSet<String> vocab, String s, boolean normalize, boolean fastPlain, int langID,
                                  boolean keepPunctuation) {
        addTokens(vocab, s);
        if (!normalize) {
            return s;
        }
        String out = fastPlain && plain(s) ? plainNormalize(s) : Normalizer.normalizeLine(s, langID, keepPunctuation);
        addTokens(vocab, out);
        return out;
    }

    private static void addTokens(HashSet<String> vocab, String s) {
        for (String text : new String[] {s, s.toLowerCase()}) {
            StringTokenizer tok = new StringTokenizer(text);
            while (tok.hasMoreTokens()) {
                vocab.add(tok.nextToken());
            }
        }
    }

    // Normalizer.normalizeLine(s, LANG_EN, keepPunctuation) costs ~75 us a line (a dozen regular expressions over
    // large Unicode classes): as much CPU as aligning. For a line made only of [a-z0-9] and spaces (most PTB
    // output) none of its steps changes anything but the spacing: every pattern needs a character outside that
    // set (. , ' ` - quotes, upper case for its DOTMULTI markers, a non-alphanumeric), and its token loop only
    // rewrites tokens ending in "."; what is left is tokens joined by single spaces, trimmed. plainNormalize does
    // exactly that for such lines and hands every other line to the jar; checkPlain compares the two at start-up.
    private static boolean plain(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ' ')) {
                return false;
            }
        }
        return true;
    }

    private static String plainNormalize(String s) {
        StringTokenizer tok = new StringTokenizer(s, " ");
        StringBuilder b = new StringBuilder(s.length());
        while (tok.hasMoreTokens()) {
            if (b.length() > 0) {
                b.append(' ');
            }
            b.append(tok.nextToken());
        }
        return b.toString();
    }

    private static boolean checkPlain(ArrayList<String> hyps, int langID, boolean keepPunctuation) {
        if (langID != Constants.LANG_EN) {
            return false;
        }
        ArrayList<String> probes = new ArrayList<String>(Arrays.asList(
            "", " ", "a", " a  b ", "dotmulti dotdotmulti x1 9 0", "a 1 2 3 b  c   d", "s n t ll re ve m d"));
        for (int i = 0; i < hyps.size() && probes.size() < 200; i++) {
            if (plain(hyps.get(i))) {
                probes.add(hyps.get(i));
            }
        }
        for (String p : probes) {
            if (!plainNormalize(p).equals(Normalizer.normalizeLine(p, langID, keepPunctuation))) {
                return false;
            }
        }
        return true;
    }

    private static final boolean TIMING = System.getenv("GENBENCH_METEOR_TIMING") != null;
    private static final long T0 = System.nanoTime();

    private static void mark(String what) {
        if (TIMING) {
            System.err.printf("meteor-driver %.3f s: %s%n", (System.nanoTime() - T0) / 1e9, what);
        }
    }

    private static Field field(MeteorScorer scorer, String name) throws NoSuchFieldException {
        Field f = MeteorScorer.class.getDeclaredField(name);
        f.setAccessible(true);
        return f;
    }

    public static void main(String[] args) throws Exception {
        mark("main");
        int threads = Math.max(1, Integer.parseInt(args[0]));
        String[] meteorArgs = Arrays.copyOfRange(args, 1, args.length);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
        PrintWriter out = new PrintWriter(new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8),
                                                             1 << 16));
        // Same properties as Meteor.main (options start after "<test> <reference>").
        Properties props = Meteor.createPropertiesFromArgs(meteorArgs, 2);
        MeteorConfiguration probe = new MeteorConfiguration(props);
        final int langID = probe.getLangID();
        // MeteorScorer.setNormalize: 1 = lower-case only, 2 = normalise keeping punctuation, 3 = normalise
        // dropping it; the aligner sees normalizeLine(segment) (when normalising), lower-cased.
        final int norm = probe.getNormalization();
        final boolean normalize = norm == 2 || norm == 3;
        final boolean keepPunctuation = norm != 3;

        final ArrayList<String> hyps = new ArrayList<String>();
        final ArrayList<ArrayList<String>> refs = new ArrayList<ArrayList<String>>();
        String line;
        while ((line = in.readLine()) != null && !line.equals("VOCAB")) {
            // Meteor.scoreStdio's parsing of a SCORE line.
            String[] parts = line.split("\\|\\|\\|");
            if (!line.startsWith("SCORE") || parts.length < 3) {
                throw new IllegalArgumentException("not a SCORE line with a hypothesis and a reference: " + line);
            }
            ArrayList<String> r = new ArrayList<String>();
            for (int i = 1; i < parts.length - 1; i++) {
                r.add(parts[i].trim());
            }
            String h = parts[parts.length - 1].trim();
            refs.add(r);
            hyps.add(h);
        }
        if (line == null) {
            throw new IllegalStateException("input ended before VOCAB");
        }
        mark("read segments");
        final int n = hyps.size();
        final boolean fastPlain = normalize && checkPlain(hyps, langID, keepPunctuation);
        mark("plain-line check: " + fastPlain);
        int nThreads = Math.min(Math.max(1, threads), Math.max(1, n));
        // Every token the aligner can see (normalised as the scorer does it), plus the raw tokens: a superset.
        final ArrayList<HashSet<String>> vocabs = new ArrayList<HashSet<String>>();
        final AtomicInteger nextSeg = new AtomicInteger();
        Thread[] vworkers = new Thread[nThreads];
        for (int t = 0; t < nThreads; t++) {
            final HashSet<String> v = new HashSet<String>();
            vocabs.add(v);
            vworkers[t] = new Thread(new Runnable() {
                public void run() {
                    int i;
                    while ((i = nextSeg.getAndIncrement()) < n) {
                        // Normalised here once, for the vocabulary and for scoring: the scorers below get
                        // these strings with their own normalisation switched off (see below).
                        ArrayList<String> r = refs.get(i);
                        for (int k = 0; k < r.size(); k++) {
                            r.set(k, prepare(v, r.get(k), normalize, fastPlain, langID, keepPunctuation));
                        }
                        hyps.set(i, prepare(v, hyps.get(i), normalize, fastPlain, langID, keepPunctuation));
                    }
                }
            });
            vworkers[t].start();
        }
        HashSet<String> vocab = new HashSet<String>();
        for (int t = 0; t < nThreads; t++) {
            vworkers[t].join();
            vocab.addAll(vocabs.get(t));
        }
        for (String w : vocab) {
            out.println(w);
        }
        out.println("END");
        out.flush();
        mark("vocabulary sent");

        line = in.readLine();
        if (line == null || !line.startsWith("PARA ")) {
            throw new IllegalStateException("expected PARA <path>, got " + line);
        }
        String para = line.substring(5).trim();
        if (!para.equals("-")) {
            props.setProperty("paraFile", para);
        }
        MeteorConfiguration config = new MeteorConfiguration(props);
        mark("got PARA");
        final MeteorScorer first = new MeteorScorer(config);
        // The normalisation assumed above must be the scorer's own.
        if (field(first, "normalize").getBoolean(first) != normalize
                || field(first, "keepPunctuation").getBoolean(first) != keepPunctuation
                || field(first, "langID").getInt(first) != langID) {
            throw new IllegalStateException("MeteorScorer normalisation differs from the configuration's");
        }
        if (normalize) {
            // MeteorScorer.getMeteorStats(test, refs) applies normalizeLine(s, langID, keepPunctuation) to the
            // test and to each reference, then lower-cases. The segments were normalised with exactly those
            // arguments above, so the scorer only lower-cases (its "normalize" field off; the copies below copy
            // it). Same strings reach the aligner; normalising twice is not a no-op, so this is not optional.
            field(first, "normalize").setBoolean(first, false);
        }
        mark("scorer loaded");
        final MeteorStats[] stats = new MeteorStats[n];
        final AtomicInteger next = new AtomicInteger();
        final Throwable[] failure = new Throwable[1];
        Thread[] workers = new Thread[nThreads];
        for (int t = 0; t < nThreads; t++) {
            final MeteorScorer scorer = t == 0 ? first : new MeteorScorer(first);
            workers[t] = new Thread(new Runnable() {
                public void run() {
                    try {
                        int i;
                        while ((i = next.getAndIncrement()) < n) {
                            // SCORE's output line, read back as EVAL parses it (Scanner: slow, so done here).
                            String text = scorer.getMeteorStats(hyps.get(i), refs.get(i)).toString();
                            stats[i] = new MeteorStats(text.trim());
                        }
                    } catch (Throwable e) {
                        synchronized (failure) {
                            failure[0] = e;
                        }
                        next.set(n);
                    }
                }
            });
            workers[t].start();
        }
        for (Thread w : workers) {
            w.join();
        }
        if (failure[0] != null) {
            throw new RuntimeException(failure[0]);
        }
        mark("aligned");
        // Meteor.scoreStdio's EVAL on "EVAL ||| s1 ||| s2 ...": each stats line trimmed, parsed (above), scored,
        // and summed in image order.
        MeteorStats aggregate = new MeteorStats();
        for (int i = 0; i < n; i++) {
            MeteorStats st = stats[i];
            first.computeMetrics(st);
            out.println(st.score);
            aggregate.addStats(st);
        }
        first.computeMetrics(aggregate);
        out.println(aggregate.score);
        out.flush();
        mark("evaluated");
    }
}
