package org.densify.rlhf.cli;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.densify.rlhf.credit.Credit;
import picocli.CommandLine;
import picocli.CommandLine.Model.UsageMessageSpec;
import picocli.CommandLine.Option;

/**
 * {@code --credit} and {@code --beta}, shared by the commands that assign credit. The methods, their
 * names, defaults and one-line descriptions come from {@link Credit#methods()}: {@link
 * #describeMethods} lists them in the usage text of every command that mixes these options in.
 */
final class CreditOptions {
    private static final String SECTION = "creditMethods";

    @Option(names = "--credit", defaultValue = Credit.DEFAULT_METHOD, paramLabel = "METHOD", completionCandidates = Names.class,
            description = "Credit method: ${COMPLETION-CANDIDATES}, described under 'Credit methods' below (default: ${DEFAULT-VALUE}).")
    String credit;

    @Option(names = "--beta", defaultValue = "" + Credit.DEFAULT_BETA, paramLabel = "F",
            description = "Share of the reward spread by attention in the methods that take beta (default: ${DEFAULT-VALUE}).")
    double beta;

    /** The chosen method; an unknown name or a beta out of range is a usage error. */
    Credit method() {
        try {
            return Credit.parse(credit, beta);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException(e.getMessage());
        }
    }

    /** The method names, for {@code ${COMPLETION-CANDIDATES}}. */
    static final class Names implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return Credit.names().iterator();
        }
    }

    /** Adds a 'Credit methods' section, one line per method, to the usage text of each command (at any depth) that mixes these options in. */
    static void describeMethods(CommandLine command) {
        boolean mixesIn = command.getCommandSpec().mixins().values().stream().anyMatch(m -> m.userObject() instanceof CreditOptions);
        if (mixesIn) {
            command.getHelpSectionMap().put(SECTION, help -> {
                Map<String, String> lines = new LinkedHashMap<>();
                for (Credit.Method m : Credit.methods()) {
                    List<String> notes = new ArrayList<>();
                    if (m.takesBeta()) notes.add("takes --beta");
                    if (m.readsPolicy()) notes.add("reads the policy's attention");
                    lines.put(m.name(), m.help() + (notes.isEmpty() ? "" : " (" + String.join("; ", notes) + ")"));
                }
                return help.createHeading("%nCredit methods:%n") + help.createTextTable(lines).toString();
            });
            List<String> keys = new ArrayList<>(command.getHelpSectionKeys());
            keys.add(keys.indexOf(UsageMessageSpec.SECTION_KEY_FOOTER_HEADING), SECTION);
            command.setHelpSectionKeys(keys);
        }
        for (CommandLine sub : command.getSubcommands().values()) describeMethods(sub);
    }
}
