import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.densify.core.cpu.VectorBackend;
import org.densify.core.model.Batch;
import org.densify.core.model.ForwardOptions;
import org.densify.loaders.data.ImdbDataset;
import org.densify.rlhf.credit.RewardModel;

/**
 * How a reward model scores short and long openings of real reviews, with and without an
 * {@code <|endoftext|>} appended: the measurement behind docs/reproduction/README.md's section on the
 * end-of-text fix. For the first 400 reviews of the bundled sample, the opening of 6 + k tokens is
 * scored as it is and with the end-of-text id appended (read at that last position, as the engine
 * did before the fix).
 *
 * <pre>
 * ./densify demo   # builds rlhf/target/densify.jar and work/demo
 * java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *     -cp rlhf/target/densify.jar docs/reproduction/EndOfTextProbe.java work/demo/reward-model [work/rm-imdb]
 * </pre>
 */
public class EndOfTextProbe {
    public static void main(String[] folders) throws Exception {
        try (VectorBackend backend = new VectorBackend()) {
            for (String folder : folders) {
                try (RewardModel rm = RewardModel.load(backend, Path.of(folder))) {
                    probe(rm, folder);
                }
            }
        }
    }

    static void probe(RewardModel rm, String folder) {
        int eot = rm.tokenizer().eotId();
        var reviews = ImdbDataset.bundledSample();
        for (int k : new int[]{1, 3, 10, 30}) {
            List<int[]> plain = new ArrayList<>(), ended = new ArrayList<>();
            for (int i = 0; i < Math.min(400, reviews.size()); i++) {
                int[] ids = rm.tokenizer().encode(reviews.get(i).text());
                if (ids.length < 6 + k) continue;
                int[] opening = Arrays.copyOf(ids, 6 + k);
                int[] withEot = Arrays.copyOf(opening, 7 + k);
                withEot[6 + k] = eot;
                plain.add(opening);
                ended.add(withEot);
            }
            float[] a = scores(rm, plain), b = scores(rm, ended);
            double sumA = 0, sumB = 0;
            int higher = 0;
            for (int i = 0; i < a.length; i++) {
                sumA += a[i];
                sumB += b[i];
                if (b[i] > a[i]) higher++;
            }
            System.out.printf(Locale.ROOT, "%s: 6 + %2d tokens: mean reward %.3f; with <|endoftext|> appended %.3f (higher for %d of %d)%n",
                    folder, k, sumA / a.length, sumB / b.length, higher, a.length);
        }
    }

    static float[] scores(RewardModel rm, List<int[]> sequences) {
        float[][] logits = rm.model().forward(Batch.of(sequences.toArray(int[][]::new)),
                ForwardOptions.forInference().withLogits(ForwardOptions.Logits.NONE)).scores();
        float[] r = new float[logits.length];
        for (int i = 0; i < r.length; i++) r[i] = RewardModel.scalar(logits[i]);
        return r;
    }
}
